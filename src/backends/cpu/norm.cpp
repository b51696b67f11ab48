// CPU normalisations in f32 with statistics in double: two-pass mean/variance for group and
// layer norm (biased variance, as torch), max-subtracted softmax.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/common.h"

namespace wma::cpu {

void group_norm(const Tensor& out, const Tensor& x, int groups, const Tensor* weight, const Tensor* bias, float eps,
                ops::Activation act, const Tensor* x_bias, const Tensor* film) {
  require_f32("group_norm", x);
  if (x_bias) require_f32("group_norm", *x_bias);
  if (film) require_f32("group_norm", *film);
  const std::int64_t n = x.size(0), l = x.size(1), c = x.size(2), cg = c / groups;
  const std::vector<float> wv = affine_values(weight, c, 1.0f);
  const std::vector<float> bv = affine_values(bias, c, 0.0f);
  const float* xp = x.data<float>();
  const float* xbp = x_bias ? x_bias->data<float>() : nullptr;
  const float* filmp = film ? film->data<float>() : nullptr;
  const std::int64_t samples_per_bias_row = x_bias ? n / x_bias->size(0) : 1;
  float* op = out.data<float>();
  parallel_for(n * groups, 4 * l * cg, [&](std::int64_t begin, std::int64_t end) {
    std::vector<float> biased(static_cast<std::size_t>(l * cg));
    for (std::int64_t task = begin; task < end; ++task) {
      const std::int64_t b = task / groups, c0 = (task % groups) * cg;
      const float* xg = xp + b * l * c + c0;
      float* og = op + b * l * c + c0;
      // The group's elements as the unfused add would have rounded them: x + x_bias in f32.
      for (std::int64_t i = 0; i < l; ++i)
        for (std::int64_t j = 0; j < cg; ++j)
          biased[i * cg + j] = xbp ? xg[i * c + j] + xbp[b / samples_per_bias_row * c + c0 + j] : xg[i * c + j];
      double sum = 0.0;
      for (const float v : biased) sum += v;
      const double mean = sum / static_cast<double>(l * cg);
      double sq = 0.0;
      for (const float v : biased) sq += (v - mean) * (v - mean);
      const float meanf = static_cast<float>(mean);
      const float rstd = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(l * cg) + eps));
      for (std::int64_t i = 0; i < l; ++i)
        for (std::int64_t j = 0; j < cg; ++j) {
          const float y = apply_activation((biased[i * cg + j] - meanf) * rstd * wv[c0 + j] + bv[c0 + j], act);
          og[i * c + j] = filmp ? y * filmp[b * 2 * c + c0 + j] + filmp[b * 2 * c + c + c0 + j] : y;
        }
    }
  });
}

void layer_norm(const Tensor& out, const Tensor& x, const Tensor* weight, const Tensor* bias, float eps) {
  require_f32("layer_norm", x);
  const std::int64_t c = x.size(-1), rows = x.numel() / std::max<std::int64_t>(c, 1);
  const std::vector<float> wv = affine_values(weight, c, 1.0f);
  const std::vector<float> bv = affine_values(bias, c, 0.0f);
  const float* xp = x.data<float>();
  float* op = out.data<float>();
  parallel_for(rows, 6 * c, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const float* xr = xp + r * c;
      float* orow = op + r * c;
      double sum = 0.0;
      for (std::int64_t i = 0; i < c; ++i) sum += xr[i];
      const double mean = sum / static_cast<double>(c);
      double sq = 0.0;
      for (std::int64_t i = 0; i < c; ++i) sq += (xr[i] - mean) * (xr[i] - mean);
      const float meanf = static_cast<float>(mean);
      const float rstd = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(c) + eps));
      for (std::int64_t i = 0; i < c; ++i) orow[i] = (xr[i] - meanf) * rstd * wv[i] + bv[i];
    }
  });
}

void softmax(const Tensor& out, const Tensor& x) {
  require_f32("softmax", x);
  const std::int64_t c = x.size(-1), rows = x.numel() / std::max<std::int64_t>(c, 1);
  const float* xp = x.data<float>();
  float* op = out.data<float>();
  parallel_for(rows, 20 * c, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const float* xr = xp + r * c;
      float* orow = op + r * c;
      const float mx = *std::max_element(xr, xr + c);
      double sum = 0.0;
      for (std::int64_t i = 0; i < c; ++i) {
        orow[i] = std::exp(xr[i] - mx);
        sum += orow[i];
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (std::int64_t i = 0; i < c; ++i) orow[i] *= inv;
    }
  });
}

// Per (n, k): the max-subtracted softmax over the positions (sum in double, as softmax), then the expectation.
void spatial_softmax(const Tensor& out, const Tensor& logits, const Tensor& pos) {
  require_f32("spatial_softmax", logits);
  const std::int64_t n = logits.size(0), p = logits.size(1), k = logits.size(2), d = pos.size(1);
  const float* lp = logits.data<float>();
  const float* pp = pos.data<float>();
  float* op = out.data<float>();
  parallel_for(n * k, 4 * p * (d + 2), [&](std::int64_t begin, std::int64_t end) {
    std::vector<float> e(static_cast<std::size_t>(p));
    for (std::int64_t task = begin; task < end; ++task) {
      const std::int64_t b = task / k, c = task % k;
      const float* l = lp + b * p * k + c;
      float mx = -std::numeric_limits<float>::infinity();
      for (std::int64_t i = 0; i < p; ++i) mx = std::max(mx, l[i * k]);
      double sum = 0.0;
      for (std::int64_t i = 0; i < p; ++i) sum += (e[i] = std::exp(l[i * k] - mx));
      const float inv = static_cast<float>(1.0 / sum);
      for (std::int64_t j = 0; j < d; ++j) {
        double acc = 0.0;
        for (std::int64_t i = 0; i < p; ++i) acc += static_cast<double>(e[i] * inv) * pp[i * d + j];
        op[(b * k + c) * d + j] = static_cast<float>(acc);
      }
    }
  });
}

}  // namespace wma::cpu
