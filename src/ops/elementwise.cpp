// Front door of the elementwise ops. Binary ops broadcast numpy-style by expanding both
// operands to the output shape as stride-0 views; the kernels never see a size mismatch.
#include <algorithm>

#include "ops/checks.h"
#include "ops/ops.h"

namespace wma::ops {

using namespace detail;

namespace {

Shape broadcast_shape(const char* op, const Tensor& a, const Tensor& b) {
  const int rank = std::max(a.dim(), b.dim());
  Shape shape(static_cast<std::size_t>(rank));
  for (int i = 0; i < rank; ++i) {
    const int ia = i - (rank - a.dim()), ib = i - (rank - b.dim());
    const std::int64_t sa = ia >= 0 ? a.size(ia) : 1, sb = ib >= 0 ? b.size(ib) : 1;
    WMA_CHECK(sa == sb || sa == 1 || sb == 1, "[", op, "] cannot broadcast ", a.describe(), " with ", b.describe());
    shape[i] = sa == 1 ? sb : sa;
  }
  return shape;
}

Tensor expand_to(Tensor x, const Shape& shape) {
  while (x.dim() < static_cast<int>(shape.size())) x = x.unsqueeze(0);
  return x.expand(shape);
}

Tensor binary_op(const char* op, const Tensor& a, const Tensor& b, BinaryOp kind) {
  check_defined(op, "a", a);
  check_same(op, "a", a, "b", b);
  const Shape shape = broadcast_shape(op, a, b);
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  WMA_DISPATCH_TRAFFIC(op, a.device(), detail::traffic({&out, &a, &b}),
                       binary(out, expand_to(a, shape), expand_to(b, shape), kind));
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary_op("add", a, b, BinaryOp::Add); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary_op("sub", a, b, BinaryOp::Sub); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary_op("mul", a, b, BinaryOp::Mul); }

Tensor axpby(float alpha, const Tensor& x, float beta, const Tensor& y) {
  check_defined("axpby", "x", x);
  check_same("axpby", "x", x, "y", y);
  WMA_CHECK(x.shape() == y.shape(), "[axpby] shapes differ: x ", x.describe(), ", y ", y.describe());
  const Tensor xc = contiguous(x), yc = contiguous(y);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  WMA_DISPATCH_TRAFFIC("axpby", x.device(), detail::traffic({&out, &xc, &yc}), axpby(out, alpha, xc, beta, yc));
  return out;
}

Tensor eps_ddim_step(const Tensor& eps, const Tensor& sample, const EpsDdimStep& step) {
  check_defined("eps_ddim_step", "eps", eps);
  check_same("eps_ddim_step", "eps", eps, "sample", sample);
  WMA_CHECK(eps.dtype() == DType::F32 && eps.shape() == sample.shape(), "[eps_ddim_step] expected f32 eps and sample ",
            "of one shape, got ", eps.describe(), " and ", sample.describe());
  const Tensor ec = contiguous(eps), sc = contiguous(sample);
  Tensor out = Tensor::empty(eps.shape(), DType::F32, eps.device());
  if (out.numel() == 0) return out;
  WMA_DISPATCH("eps_ddim_step", eps.device(), eps_ddim_step(out, ec, sc, step));
  return out;
}

// beta = 0 means the kernel never reads y (BLAS convention), so passing x twice is free.
Tensor scale(const Tensor& x, float alpha) { return axpby(alpha, x, 0.0f, x); }

Tensor activation(const Tensor& x, Activation act) {
  check_defined("activation", "x", x);
  const Tensor xc = contiguous(x);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  WMA_DISPATCH_TRAFFIC("activation", x.device(), detail::traffic({&out, &xc}), activation(out, xc, act));
  return out;
}

Tensor geglu(const Tensor& x) {
  check_defined("geglu", "x", x);
  WMA_CHECK(x.dim() >= 1 && x.size(-1) % 2 == 0, "[geglu] expected x [..., 2N], got ", x.describe());
  const Tensor xc = contiguous(x);
  Shape shape = x.shape();
  shape.back() /= 2;
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  WMA_DISPATCH_TRAFFIC("geglu", x.device(), detail::traffic({&out, &xc}), geglu(out, xc));
  return out;
}

}  // namespace wma::ops
