// CPU linear and batched matmul in f32. linear walks weight rows ([N, K], contiguous in K)
// in blocks that stay in cache while every row of x is dotted against them.
#include <algorithm>

#include "backends/backend.h"
#include "backends/cpu/common.h"

namespace wma::cpu {

namespace {

// Weight rows per block: 64 rows of K = 1280 floats is 320 KB, an L2-sized slab.
constexpr std::int64_t kWeightBlock = 64;

}  // namespace

void linear(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor* bias,
            const ops::LinearEpilogue& epilogue) {
  require_f32("linear", x);
  require_f32("linear", weight);
  if (bias) require_f32("linear", *bias);
  if (epilogue.residual) require_f32("linear", *epilogue.residual);
  const std::int64_t k = x.size(-1), n = weight.size(0), m = x.numel() / std::max<std::int64_t>(k, 1);
  const float* xp = x.data<float>();
  const float* wp = weight.data<float>();
  const float* bp = bias ? bias->data<float>() : nullptr;
  const float* rp = epilogue.residual ? epilogue.residual->data<float>() : nullptr;
  float* op = out.data<float>();
  if (m == 0 || n == 0) return;
  // Split the output features across threads: works for one-row inputs (embedding MLPs) too.
  parallel_for(n, m * k, [&](std::int64_t n_begin, std::int64_t n_end) {
    for (std::int64_t nb = n_begin; nb < n_end; nb += kWeightBlock) {
      const std::int64_t nb_end = std::min(nb + kWeightBlock, n_end);
      for (std::int64_t row = 0; row < m; ++row) {
        const float* xr = xp + row * k;
        float* orow = op + row * n;
        for (std::int64_t j = nb; j < nb_end; ++j) {
          float v = dot(xr, wp + j * k, k);
          if (bp) v += bp[j];
          v = apply_activation(v, epilogue.act);
          if (rp) v += rp[row * n + j];
          orow[j] = v;
        }
      }
    }
  });
}

void matmul(const Tensor& out, const Tensor& a, const Tensor& b) {
  require_f32("matmul", a);
  require_f32("matmul", b);
  const std::int64_t batch = a.size(0), m = a.size(1), k = a.size(2), n = b.size(2);
  const bool b_shared = b.size(0) == 1;
  const float* ap = a.data<float>();
  const float* bp = b.data<float>();
  float* op = out.data<float>();
  // i-k-j order: each output row accumulates rows of b, so the inner loop is contiguous in N.
  parallel_for(batch * m, k * n, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const std::int64_t bi = r / m;
      const float* arow = ap + r * k;
      const float* bmat = bp + (b_shared ? 0 : bi * k * n);
      float* orow = op + r * n;
      std::fill(orow, orow + n, 0.0f);
      for (std::int64_t kk = 0; kk < k; ++kk) {
        const float av = arow[kk];
        const float* brow = bmat + kk * n;
        for (std::int64_t j = 0; j < n; ++j) orow[j] += av * brow[j];
      }
    }
  });
}

}  // namespace wma::cpu
