// Front door of group norm, layer norm and softmax. Affine parameters may be any float
// dtype (the backends read them in f32); they must sit on x's device.
#include "ops/checks.h"
#include "ops/ops.h"

namespace wma::ops {

using namespace detail;

namespace {

// Returns a contiguous copy of an optional affine parameter of shape [c], or an undefined tensor.
Tensor checked_affine(const char* op, const char* name, const Tensor& x, const Tensor* p, std::int64_t c) {
  if (!p) return Tensor();
  check_same_device(op, "x", x, name, *p);
  check_float(op, name, *p);
  check_shape(op, name, *p, {c});
  return contiguous(*p);
}

}  // namespace

Tensor group_norm(const Tensor& x, int groups, const Tensor* weight, const Tensor* bias, float eps, Activation act,
                  const Tensor* x_bias, const Tensor* film) {
  check_rank("group_norm", "x", x, 3, "[N, L, C]");
  const std::int64_t c = x.size(2);
  WMA_CHECK(groups >= 1 && c % groups == 0, "[group_norm] ", c, " channels do not split into ", groups, " groups (x ",
            x.describe(), ")");
  WMA_CHECK(act == Activation::None || act == Activation::SiLU || act == Activation::Mish,
            "[group_norm] supports act None, SiLU or Mish only");
  const Tensor wc = checked_affine("group_norm", "weight", x, weight, c);
  const Tensor bc = checked_affine("group_norm", "bias", x, bias, c);
  Tensor filmc;
  if (film) {
    check_same("group_norm", "x", x, "film", *film);
    check_shape("group_norm", "film", *film, {x.size(0), 2, c});
    if (!fusion_enabled()) {
      const Tensor y = group_norm(x, groups, weight, bias, eps, act, x_bias);
      return add(mul(y, film->select(1, 0).unsqueeze(1)), film->select(1, 1).unsqueeze(1));
    }
    filmc = contiguous(*film);
  }
  Tensor xbc;
  if (x_bias) {
    check_same("group_norm", "x", x, "x_bias", *x_bias);
    WMA_CHECK(x_bias->dim() == 2 && x_bias->size(1) == c && x_bias->size(0) >= 1 && x.size(0) % x_bias->size(0) == 0,
              "[group_norm] expected x_bias [B, ", c, "] with B dividing ", x.size(0), ", got ", x_bias->describe());
    if (!fusion_enabled()) {
      const std::int64_t rows = x_bias->size(0), per_row = x.size(0) / rows;
      const Tensor biased =
          add(contiguous(x).reshape({rows, per_row * x.size(1), c}), x_bias->unsqueeze(1)).reshape(x.shape());
      return group_norm(biased, groups, weight, bias, eps, act, nullptr, film);
    }
    xbc = contiguous(*x_bias);
  }
  const Tensor xc = contiguous(x);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  WMA_DISPATCH_SHAPED("group_norm", x.device(), detail::traffic({&out, &xc}), &xc,
                      group_norm(out, xc, groups, weight ? &wc : nullptr, bias ? &bc : nullptr, eps, act,
                                 x_bias ? &xbc : nullptr, film ? &filmc : nullptr));
  return out;
}

Tensor layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps) {
  check_defined("layer_norm", "x", x);
  WMA_CHECK(x.dim() >= 1, "[layer_norm] expected x [..., C], got ", x.describe());
  const std::int64_t c = x.size(-1);
  const Tensor wc = checked_affine("layer_norm", "weight", x, weight, c);
  const Tensor bc = checked_affine("layer_norm", "bias", x, bias, c);
  const Tensor xc = contiguous(x);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  WMA_DISPATCH_SHAPED("layer_norm", x.device(), detail::traffic({&out, &xc}), &xc,
                      layer_norm(out, xc, weight ? &wc : nullptr, bias ? &bc : nullptr, eps));
  return out;
}

Tensor softmax(const Tensor& x) {
  check_defined("softmax", "x", x);
  WMA_CHECK(x.dim() >= 1, "[softmax] expected x [..., C], got ", x.describe());
  const Tensor xc = contiguous(x);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  WMA_DISPATCH("softmax", x.device(), softmax(out, xc));
  return out;
}

Tensor spatial_softmax(const Tensor& logits, const Tensor& pos) {
  check_rank("spatial_softmax", "logits", logits, 3, "[N, P, K]");
  check_rank("spatial_softmax", "pos", pos, 2, "[P, D]");
  check_same("spatial_softmax", "logits", logits, "pos", pos);
  WMA_CHECK(pos.size(0) == logits.size(1) && logits.size(1) > 0, "[spatial_softmax] expected pos [", logits.size(1),
            ", D] for logits ", logits.describe(), ", got ", pos.describe());
  if (!fusion_enabled()) return matmul(softmax(contiguous(logits.transpose(1, 2))), pos.unsqueeze(0));
  const Tensor lc = contiguous(logits), pc = contiguous(pos);
  Tensor out = Tensor::empty({logits.size(0), logits.size(2), pos.size(1)}, logits.dtype(), logits.device());
  if (out.numel() == 0) return out;
  WMA_DISPATCH_TRAFFIC("spatial_softmax", logits.device(), detail::traffic({&out, &lc, &pc}),
                       spatial_softmax(out, lc, pc));
  return out;
}

}  // namespace wma::ops
