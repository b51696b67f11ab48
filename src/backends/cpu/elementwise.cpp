// CPU elementwise kernels in f32: broadcasting binary ops over stride-0 views, axpby,
// activations and GEGLU. Formulas follow PyTorch's CPU kernels (see common.h).
#include "backends/backend.h"
#include "backends/cpu/common.h"

namespace wma::cpu {

void binary(const Tensor& out, const Tensor& a, const Tensor& b, BinaryOp op) {
  require_f32("binary", out);
  require_f32("binary", a);
  require_f32("binary", b);
  float* o = out.data<float>();
  const float* ap = a.data<float>();
  const float* bp = b.data<float>();
  const std::array<const Shape*, 3> strides{&out.strides(), &a.strides(), &b.strides()};
  for_each_run<3>(out.shape(), strides, 1, [&](std::int64_t len, const auto& off, const auto& inner) {
    float* od = o + off[0];
    const float* as = ap + off[1];
    const float* bs = bp + off[2];
    const std::int64_t sa = inner[1], sb = inner[2];
    switch (op) {
      case BinaryOp::Add:
        for (std::int64_t i = 0; i < len; ++i) od[i * inner[0]] = as[i * sa] + bs[i * sb];
        break;
      case BinaryOp::Sub:
        for (std::int64_t i = 0; i < len; ++i) od[i * inner[0]] = as[i * sa] - bs[i * sb];
        break;
      case BinaryOp::Mul:
        for (std::int64_t i = 0; i < len; ++i) od[i * inner[0]] = as[i * sa] * bs[i * sb];
        break;
    }
  });
}

void eps_ddim_step(const Tensor& out, const Tensor& eps, const Tensor& sample, const ops::EpsDdimStep& c) {
  const float* e = eps.data<float>();
  const float* x = sample.data<float>();
  float* o = out.data<float>();
  for (std::int64_t i = 0; i < out.numel(); ++i) {
    const float scaled_eps = c.sqrt_beta_prod * e[i];
    const float num = x[i] - scaled_eps;
    float x0 = c.multiply_by_reciprocal ? num * c.inv_sqrt_alpha_prod : num / c.sqrt_alpha_prod;
    if (c.clip) x0 = x0 < -c.clip_range ? -c.clip_range : (x0 > c.clip_range ? c.clip_range : x0);
    const float kept = c.sqrt_alpha_prod_prev * x0, direction = c.dir_coefficient * e[i];
    o[i] = kept + direction;
  }
}

void axpby(const Tensor& out, float alpha, const Tensor& x, float beta, const Tensor& y) {
  require_f32("axpby", x);
  require_f32("axpby", y);
  const float* xp = x.data<float>();
  const float* yp = y.data<float>();
  float* o = out.data<float>();
  // BLAS convention: beta == 0 means y is not read, so scale() gives inf * alpha, not NaN.
  parallel_for(out.numel(), 2, [&](std::int64_t begin, std::int64_t end) {
    if (beta == 0.0f) {
      for (std::int64_t i = begin; i < end; ++i) o[i] = alpha * xp[i];
    } else {
      for (std::int64_t i = begin; i < end; ++i) o[i] = alpha * xp[i] + beta * yp[i];
    }
  });
}

void activation(const Tensor& out, const Tensor& x, ops::Activation act) {
  require_f32("activation", x);
  const float* xp = x.data<float>();
  float* o = out.data<float>();
  parallel_for(out.numel(), 20, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) o[i] = apply_activation(xp[i], act);
  });
}

void geglu(const Tensor& out, const Tensor& x) {
  require_f32("geglu", x);
  const std::int64_t n = out.size(-1);
  const std::int64_t rows = out.numel() / std::max<std::int64_t>(n, 1);
  const float* xp = x.data<float>();
  float* o = out.data<float>();
  parallel_for(rows, 20 * n, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const float* value = xp + r * 2 * n;
      const float* gate = value + n;
      for (std::int64_t i = 0; i < n; ++i) o[r * n + i] = value[i] * apply_activation(gate[i], ops::Activation::GELU);
    }
  });
}

}  // namespace wma::cpu
