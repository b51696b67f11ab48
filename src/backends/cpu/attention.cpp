// CPU attention in f32: one query row at a time, scores over all keys, max-subtracted
// softmax, then the weighted sum of values. q, k, v are read and out written through their strides.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/common.h"

namespace wma::cpu {

std::int64_t attention_max_head_dim() { return std::numeric_limits<std::int64_t>::max(); }

void attention(const Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, float scale) {
  require_f32("attention", q);
  require_f32("attention", k);
  require_f32("attention", v);
  if (mask) require_f32("attention", *mask);
  const std::int64_t batch = q.size(0), lq = q.size(1), heads = q.size(2), d = q.size(3);
  const std::int64_t lk = k.size(1), dv = v.size(3);
  // Unit key stride; the query stride is 0 for a mask broadcast over the queries (ops::attention's layouts).
  const std::int64_t mask_sb = mask && mask->size(0) > 1 ? mask->stride(0) : 0, mask_sq = mask ? mask->stride(1) : 0;
  const float* qp = q.data<float>();
  const float* kp = k.data<float>();
  const float* vp = v.data<float>();
  const float* mp = mask ? mask->data<float>() : nullptr;
  float* op = out.data<float>();
  parallel_for(batch * heads * lq, lk * (d + dv + 20), [&](std::int64_t begin, std::int64_t end) {
    std::vector<float> scores(static_cast<std::size_t>(lk));
    std::vector<float> acc(static_cast<std::size_t>(dv));
    for (std::int64_t task = begin; task < end; ++task) {
      // Heads outermost within a batch element so consecutive tasks reuse one head's keys.
      const std::int64_t b = task / (heads * lq), h = (task / lq) % heads, i = task % lq;
      const float* qrow = qp + b * q.stride(0) + i * q.stride(1) + h * q.stride(2);
      const float* mrow = mp ? mp + b * mask_sb + i * mask_sq : nullptr;
      float mx = -std::numeric_limits<float>::infinity();
      for (std::int64_t j = 0; j < lk; ++j) {
        const float* krow = kp + b * k.stride(0) + j * k.stride(1) + h * k.stride(2);
        float s = scale * dot(qrow, krow, d);
        if (mrow) s += mrow[j];
        scores[j] = s;
        mx = std::max(mx, s);
      }
      double sum = 0.0;
      for (std::int64_t j = 0; j < lk; ++j) {
        scores[j] = std::exp(scores[j] - mx);
        sum += scores[j];
      }
      const float inv = static_cast<float>(1.0 / sum);
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (std::int64_t j = 0; j < lk; ++j) {
        const float p = scores[j] * inv;
        const float* vrow = vp + b * v.stride(0) + j * v.stride(1) + h * v.stride(2);
        for (std::int64_t e = 0; e < dv; ++e) acc[e] += p * vrow[e];
      }
      std::copy(acc.begin(), acc.end(), op + b * out.stride(0) + i * out.stride(1) + h * out.stride(2));
    }
  });
}

// Branch by branch through the reference kernel, summed in f32.
void attention_sum(const Tensor& out, const Tensor& q, const std::vector<ops::KeyValueBranch>& branches, float scale) {
  attention(out, q, branches[0].k, branches[0].v, branches[0].mask, scale);
  if (branches.size() == 1) return;
  const Tensor part = Tensor::empty(out.shape(), DType::F32, Device::CPU);
  float* sum = out.data<float>();
  const float* p = part.data<float>();
  for (std::size_t i = 1; i < branches.size(); ++i) {
    attention(part, q, branches[i].k, branches[i].v, branches[i].mask, scale);
    for (std::int64_t e = 0; e < out.numel(); ++e) sum[e] += p[e];
  }
}

}  // namespace wma::cpu
