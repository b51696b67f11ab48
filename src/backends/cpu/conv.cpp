// CPU convolutions in f32, channels-last, direct loops without im2col: every tap is a dot
// product over contiguous input channels against a contiguous weight row (OHWI / [Cout, k, Cin]).
#include <algorithm>

#include "backends/backend.h"
#include "backends/cpu/common.h"

namespace wma::cpu {

namespace {

void check_conv_dtypes(const char* op, const Tensor& x, const Tensor& weight, const Tensor* bias,
                       const Tensor* residual) {
  require_f32(op, x);
  require_f32(op, weight);
  if (bias) require_f32(op, *bias);
  if (residual) require_f32(op, *residual);
}

// Output positions per block in the 1-D convolutions: keeps the inputs they read in L2 while
// the loop over output channels reuses each weight row across the block.
constexpr std::int64_t kPositionBlock = 64;

}  // namespace

void conv2d(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor* bias,
            const ops::Conv2dParams& params, const Tensor* residual) {
  check_conv_dtypes("conv2d", x, weight, bias, residual);
  const std::int64_t n = x.size(0), h = x.size(1), w = x.size(2), cin = x.size(3);
  const std::int64_t cout = weight.size(0), kh = weight.size(1), kw = weight.size(2);
  const std::int64_t ho = out.size(1), wo = out.size(2);
  const std::int64_t stride = params.stride, pad = params.padding;
  const float* xp = x.data<float>();
  const float* wp = weight.data<float>();
  const float* bp = bias ? bias->data<float>() : nullptr;
  const float* rp = residual ? residual->data<float>() : nullptr;
  float* op = out.data<float>();
  // One task per output row: the kh input rows it reads stay in cache across output channels,
  // and one output channel's weights (kh*kw*Cin) stay in L1 across the row.
  parallel_for(n * ho, wo * cout * kh * kw * cin, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t task = begin; task < end; ++task) {
      const std::int64_t b = task / ho, oy = task % ho;
      float* orow = op + task * wo * cout;
      for (std::int64_t co = 0; co < cout; ++co) {
        const float* wco = wp + co * kh * kw * cin;
        for (std::int64_t ox = 0; ox < wo; ++ox) {
          float acc = bp ? bp[co] : 0.0f;
          for (std::int64_t ky = 0; ky < kh; ++ky) {
            const std::int64_t iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= h) continue;
            for (std::int64_t kx = 0; kx < kw; ++kx) {
              const std::int64_t ix = ox * stride - pad + kx;
              if (ix < 0 || ix >= w) continue;
              acc += dot(xp + ((b * h + iy) * w + ix) * cin, wco + (ky * kw + kx) * cin, cin);
            }
          }
          orow[ox * cout + co] = acc;
        }
      }
      if (rp) {
        const float* rrow = rp + task * wo * cout;
        for (std::int64_t i = 0; i < wo * cout; ++i) orow[i] += rrow[i];
      }
    }
  });
}

void conv_temporal(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor* bias, int padding,
                   const Tensor* residual) {
  check_conv_dtypes("conv_temporal", x, weight, bias, residual);
  const std::int64_t batch = x.size(0), t = x.size(1), s = x.size(2), cin = x.size(3);
  const std::int64_t cout = weight.size(0), k = weight.size(1), to = out.size(1);
  const float* xp = x.data<float>();
  const float* wp = weight.data<float>();
  const float* bp = bias ? bias->data<float>() : nullptr;
  const float* rp = residual ? residual->data<float>() : nullptr;
  float* op = out.data<float>();
  const std::int64_t s_blocks = (s + kPositionBlock - 1) / kPositionBlock;
  parallel_for(batch * to * s_blocks, kPositionBlock * cout * k * cin, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t task = begin; task < end; ++task) {
      const std::int64_t b = task / (to * s_blocks), ot = (task / s_blocks) % to, sb = task % s_blocks;
      const std::int64_t s0 = sb * kPositionBlock, s1 = std::min(s, s0 + kPositionBlock);
      for (std::int64_t co = 0; co < cout; ++co) {
        const float* wco = wp + co * k * cin;
        for (std::int64_t si = s0; si < s1; ++si) {
          float acc = bp ? bp[co] : 0.0f;
          for (std::int64_t j = 0; j < k; ++j) {
            const std::int64_t it = ot - padding + j;
            if (it < 0 || it >= t) continue;
            acc += dot(xp + ((b * t + it) * s + si) * cin, wco + j * cin, cin);
          }
          const std::int64_t o = ((b * to + ot) * s + si) * cout + co;
          op[o] = rp ? acc + rp[o] : acc;
        }
      }
    }
  });
}

void conv1d(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor* bias,
            const ops::Conv1dParams& params) {
  check_conv_dtypes("conv1d", x, weight, bias, nullptr);
  const std::int64_t n = x.size(0), l = x.size(1), cin = x.size(2);
  const std::int64_t cout = weight.size(0), k = weight.size(1), lo = out.size(1);
  const float* xp = x.data<float>();
  const float* wp = weight.data<float>();
  const float* bp = bias ? bias->data<float>() : nullptr;
  float* op = out.data<float>();
  parallel_for(n * lo, cout * k * cin, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t task = begin; task < end; ++task) {
      const std::int64_t b = task / lo, o = task % lo;
      for (std::int64_t co = 0; co < cout; ++co) {
        float acc = bp ? bp[co] : 0.0f;
        for (std::int64_t j = 0; j < k; ++j) {
          const std::int64_t il = o * params.stride - params.padding + j;
          if (il < 0 || il >= l) continue;
          acc += dot(xp + (b * l + il) * cin, wp + (co * k + j) * cin, cin);
        }
        op[task * cout + co] = acc;
      }
    }
  });
}

void conv_transpose1d(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor* bias,
                      const ops::Conv1dParams& params) {
  check_conv_dtypes("conv_transpose1d", x, weight, bias, nullptr);
  const std::int64_t n = x.size(0), l = x.size(1), cin = x.size(2);
  const std::int64_t cout = weight.size(0), k = weight.size(1), lo = out.size(1);
  const float* xp = x.data<float>();
  const float* wp = weight.data<float>();
  const float* bp = bias ? bias->data<float>() : nullptr;
  float* op = out.data<float>();
  // Gather form: output o receives input l through tap j when l * stride - padding + j == o.
  parallel_for(n * lo, cout * cin * std::max<std::int64_t>(k / params.stride, 1),
               [&](std::int64_t begin, std::int64_t end) {
                 for (std::int64_t task = begin; task < end; ++task) {
                   const std::int64_t b = task / lo, o = task % lo;
                   for (std::int64_t co = 0; co < cout; ++co) {
                     float acc = bp ? bp[co] : 0.0f;
                     for (std::int64_t j = 0; j < k; ++j) {
                       const std::int64_t num = o + params.padding - j;
                       if (num < 0 || num % params.stride != 0) continue;
                       const std::int64_t il = num / params.stride;
                       if (il >= l) continue;
                       acc += dot(xp + (b * l + il) * cin, wp + (co * k + j) * cin, cin);
                     }
                     op[task * cout + co] = acc;
                   }
                 }
               });
}

}  // namespace wma::cpu
