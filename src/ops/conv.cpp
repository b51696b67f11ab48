// Front door of the channels-last convolutions: layout and size checks, output shapes,
// contiguous operands, dispatch. Weights arrive pre-arranged by the loader (OHWI, [Cout, k, Cin]).
#include "ops/checks.h"
#include "ops/ops.h"

namespace wma::ops {

using namespace detail;

namespace {

// Checks weight against x's channel count and device/dtype, and bias against Cout.
void check_weight_bias(const char* op, const Tensor& x, const Tensor& weight, const Tensor* bias) {
  check_same(op, "x", x, "weight", weight);
  WMA_CHECK(weight.size(-1) == x.size(-1), "[", op, "] weight ", weight.describe(), " expects ", weight.size(-1),
            " input channels, x ", x.describe(), " has ", x.size(-1));
  if (bias) {
    check_same(op, "x", x, "bias", *bias);
    check_shape(op, "bias", *bias, {weight.size(0)});
  }
}

std::int64_t conv_out_size(const char* op, std::int64_t in, std::int64_t k, int stride, int padding) {
  WMA_CHECK(stride >= 1 && padding >= 0, "[", op, "] needs stride >= 1 and padding >= 0, got stride ", stride,
            ", padding ", padding);
  const std::int64_t span = in + 2 * padding - k;
  WMA_CHECK(span >= 0, "[", op, "] kernel size ", k, " exceeds padded input size ", in + 2 * padding);
  return span / stride + 1;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor* bias, const Conv2dParams& params,
              const Tensor* residual) {
  check_rank("conv2d", "x", x, 4, "[N, H, W, Cin]");
  check_rank("conv2d", "weight", weight, 4, "[Cout, kh, kw, Cin]");
  check_weight_bias("conv2d", x, weight, bias);
  const std::int64_t ho = conv_out_size("conv2d", x.size(1), weight.size(1), params.stride, params.padding);
  const std::int64_t wo = conv_out_size("conv2d", x.size(2), weight.size(2), params.stride, params.padding);
  const Shape shape{x.size(0), ho, wo, weight.size(0)};
  Tensor rc;
  if (residual) {
    check_same("conv2d", "x", x, "residual", *residual);
    check_shape("conv2d", "residual", *residual, shape);
    rc = contiguous(*residual);
  }
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  const Tensor xc = contiguous(x), wc = contiguous(weight);
  const Tensor bc = bias ? contiguous(*bias) : Tensor();
  WMA_DISPATCH("conv2d", x.device(), conv2d(out, xc, wc, bias ? &bc : nullptr, params, residual ? &rc : nullptr));
  return out;
}

Tensor conv_temporal(const Tensor& x, const Tensor& weight, const Tensor* bias, int padding, const Tensor* residual) {
  check_rank("conv_temporal", "x", x, 4, "[B, T, S, Cin]");
  check_rank("conv_temporal", "weight", weight, 3, "[Cout, k, Cin]");
  check_weight_bias("conv_temporal", x, weight, bias);
  const std::int64_t to = conv_out_size("conv_temporal", x.size(1), weight.size(1), 1, padding);
  const Shape shape{x.size(0), to, x.size(2), weight.size(0)};
  Tensor rc;
  if (residual) {
    check_same("conv_temporal", "x", x, "residual", *residual);
    check_shape("conv_temporal", "residual", *residual, shape);
    if (!fusion_enabled()) return add(conv_temporal(x, weight, bias, padding), *residual);
    rc = contiguous(*residual);
  }
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  const Tensor xc = contiguous(x), wc = contiguous(weight);
  const Tensor bc = bias ? contiguous(*bias) : Tensor();
  WMA_DISPATCH("conv_temporal", x.device(),
               conv_temporal(out, xc, wc, bias ? &bc : nullptr, padding, residual ? &rc : nullptr));
  return out;
}

Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor* bias, const Conv1dParams& params) {
  check_rank("conv1d", "x", x, 3, "[N, L, Cin]");
  check_rank("conv1d", "weight", weight, 3, "[Cout, k, Cin]");
  check_weight_bias("conv1d", x, weight, bias);
  const std::int64_t lo = conv_out_size("conv1d", x.size(1), weight.size(1), params.stride, params.padding);
  Tensor out = Tensor::empty({x.size(0), lo, weight.size(0)}, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  const Tensor xc = contiguous(x), wc = contiguous(weight);
  const Tensor bc = bias ? contiguous(*bias) : Tensor();
  WMA_DISPATCH("conv1d", x.device(), conv1d(out, xc, wc, bias ? &bc : nullptr, params));
  return out;
}

Tensor conv_transpose1d(const Tensor& x, const Tensor& weight, const Tensor* bias, const Conv1dParams& params) {
  check_rank("conv_transpose1d", "x", x, 3, "[N, L, Cin]");
  check_rank("conv_transpose1d", "weight", weight, 3, "[Cout, k, Cin]");
  check_weight_bias("conv_transpose1d", x, weight, bias);
  WMA_CHECK(params.stride >= 1 && params.padding >= 0,
            "[conv_transpose1d] needs stride >= 1 and padding >= 0, got stride ", params.stride, ", padding ",
            params.padding);
  const std::int64_t lo = (x.size(1) - 1) * params.stride - 2 * params.padding + weight.size(1);
  WMA_CHECK(lo >= 1, "[conv_transpose1d] output length ", lo, " < 1 for x ", x.describe(), " and weight ",
            weight.describe());
  Tensor out = Tensor::empty({x.size(0), lo, weight.size(0)}, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  const Tensor xc = contiguous(x), wc = contiguous(weight);
  const Tensor bc = bias ? contiguous(*bias) : Tensor();
  WMA_DISPATCH("conv_transpose1d", x.device(), conv_transpose1d(out, xc, wc, bias ? &bc : nullptr, params));
  return out;
}

}  // namespace wma::ops
