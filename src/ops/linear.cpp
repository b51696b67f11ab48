// Front door of linear and matmul: shape checks, contiguous operands, dispatch.
#include "ops/checks.h"
#include "ops/ops.h"

namespace wma::ops {

using namespace detail;

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor* bias, const LinearEpilogue& epilogue) {
  check_defined("linear", "x", x);
  WMA_CHECK(x.dim() >= 1, "[linear] expected x [..., K], got ", x.describe());
  check_rank("linear", "weight", weight, 2, "[N, K]");
  check_same("linear", "x", x, "weight", weight);
  const std::int64_t n = weight.size(0), k = weight.size(1);
  WMA_CHECK(x.size(-1) == k, "[linear] x ", x.describe(), " does not match weight ", weight.describe(),
            " (expected x [..., ", k, "])");
  if (bias) {
    check_same("linear", "x", x, "bias", *bias);
    check_shape("linear", "bias", *bias, {n});
  }
  Shape shape = x.shape();
  shape.back() = n;
  Tensor residual;
  if (epilogue.residual) {
    check_same("linear", "x", x, "residual", *epilogue.residual);
    check_shape("linear", "residual", *epilogue.residual, shape);
    residual = contiguous(*epilogue.residual);
  }
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  const Tensor xc = contiguous(x), wc = contiguous(weight);
  const Tensor bc = bias ? contiguous(*bias) : Tensor();
  const LinearEpilogue ep{epilogue.act, epilogue.residual ? &residual : nullptr};
  WMA_DISPATCH("linear", x.device(), linear(out, xc, wc, bias ? &bc : nullptr, ep));
  return out;
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_rank("matmul", "a", a, 3, "[B, M, K]");
  check_rank("matmul", "b", b, 3, "[B or 1, K, N]");
  check_same("matmul", "a", a, "b", b);
  WMA_CHECK((b.size(0) == a.size(0) || b.size(0) == 1) && b.size(1) == a.size(2), "[matmul] expected b [", a.size(0),
            " or 1, ", a.size(2), ", N] for a ", a.describe(), ", got ", b.describe());
  Tensor out = Tensor::empty({a.size(0), a.size(1), b.size(2)}, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  const Tensor ac = contiguous(a), bc = contiguous(b);
  WMA_DISPATCH("matmul", a.device(), matmul(out, ac, bc));
  return out;
}

}  // namespace wma::ops
