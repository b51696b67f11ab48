// CPU sinusoidal timestep embeddings, with the frequencies computed in float32 in the same
// order of operations as the upstream torch code, so the embedding matches it bit for bit
// up to the libm's exp/sin/cos.
#include <cmath>

#include "backends/backend.h"
#include "backends/cpu/common.h"

namespace wma::cpu {

void timestep_embedding(const Tensor& out, const Tensor& t, ops::TimestepStyle style) {
  require_f32("timestep_embedding", out);
  const std::int64_t batch = out.size(0), dim = out.size(1), half = dim / 2;
  const std::vector<float> times = t.to_floats();
  std::vector<float> freqs(static_cast<std::size_t>(half));
  for (std::int64_t i = 0; i < half; ++i) {
    if (style == ops::TimestepStyle::CosSin) {
      // torch.exp(-math.log(10000) * torch.arange(half, dtype=float32) / half)
      const float scaled = static_cast<float>(-std::log(10000.0)) * static_cast<float>(i);
      freqs[i] = std::exp(scaled / static_cast<float>(half));
    } else {
      // torch.exp(torch.arange(half) * -(math.log(10000) / (half - 1)))
      const float step = static_cast<float>(-(std::log(10000.0) / static_cast<double>(half - 1)));
      freqs[i] = std::exp(static_cast<float>(i) * step);
    }
  }
  float* op = out.data<float>();
  for (std::int64_t b = 0; b < batch; ++b) {
    float* row = op + b * dim;
    for (std::int64_t i = 0; i < half; ++i) {
      const float arg = times[b] * freqs[i];
      const float c = std::cos(arg), s = std::sin(arg);
      row[i] = style == ops::TimestepStyle::CosSin ? c : s;
      row[half + i] = style == ops::TimestepStyle::CosSin ? s : c;
    }
    // Odd dim: upstream pads one zero column.
    if (dim % 2) row[dim - 1] = 0.0f;
  }
}

}  // namespace wma::cpu
