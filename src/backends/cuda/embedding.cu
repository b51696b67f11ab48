// The sinusoidal timestep embedding (both of upstream's styles), f32 out, any numeric t.
#include <cmath>

#include "backends/cuda/common.cuh"

namespace wma::cuda {
namespace {

// Frequencies are computed on the host (see timestep_embedding) and passed by value, so
// they are the CPU reference's float32 values bit for bit and the kernel stays capturable.
constexpr int kMaxTimestepHalf = 2048;
struct FreqTable {
  float f[kMaxTimestepHalf];
};
static_assert(sizeof(FreqTable) + 256 <= 32764,
              "the table and the other parameters stay under the 32764-byte kernel-parameter limit (CUDA 12.1+)");

template <typename TT>
__global__ void timestep_kernel(float* out, const TT* t, std::int64_t t_stride, int batch, int dim, int half,
                                bool cos_first, const __grid_constant__ FreqTable freqs) {
  const std::int64_t n = static_cast<std::int64_t>(batch) * dim;
  grid_stride_loop(n, [&](const std::int64_t i) {
    const std::int64_t b = i / dim;
    const int j = static_cast<int>(i - b * dim);
    float v = 0.0f;  // the odd-dim pad column
    if (j < 2 * half) {
      const int k = j < half ? j : j - half;
      const float arg = to_float(t[b * t_stride]) * freqs.f[k];
      const bool first = j < half;
      v = (first == cos_first) ? cosf(arg) : sinf(arg);
    }
    out[i] = v;
  });
}

}  // namespace

void timestep_embedding(const Tensor& out, const Tensor& t, ops::TimestepStyle style) {
  WMA_CHECK(out.device() == Device::CUDA && t.device() == Device::CUDA, "[timestep_embedding] expected CUDA tensors");
  WMA_CHECK(out.dtype() == DType::F32 && out.dim() == 2 && out.is_contiguous() && t.dim() == 1 &&
                t.size(0) == out.size(0),
            "[timestep_embedding] t ", t.describe(), " -> out ", out.describe());
  const int batch = static_cast<int>(out.size(0));
  const int dim = static_cast<int>(out.size(1));
  const int half = dim / 2;
  WMA_CHECK(half <= kMaxTimestepHalf, "[timestep_embedding] dim ", dim, " above the CUDA limit ", 2 * kMaxTimestepHalf);
  const bool cos_first = style == ops::TimestepStyle::CosSin;
  const int denom = cos_first ? half : half - 1;
  WMA_CHECK(denom > 0, "[timestep_embedding] dim ", dim, " too small for this style");
  FreqTable freqs;
  // The CPU reference's expressions (upstream's torch order), operation for operation in
  // float32, so the frequencies agree bit for bit; only device cosf/sinf (<= 2 ulp) differ.
  for (int i = 0; i < half; ++i) {
    if (cos_first) {
      const float scaled = static_cast<float>(-std::log(10000.0)) * static_cast<float>(i);
      freqs.f[i] = std::exp(scaled / static_cast<float>(half));
    } else {
      const float step = static_cast<float>(-(std::log(10000.0) / static_cast<double>(denom)));
      freqs.f[i] = std::exp(static_cast<float>(i) * step);
    }
  }
  const std::int64_t n = static_cast<std::int64_t>(batch) * dim;
  if (n == 0) return;
  dispatch_any(t.dtype(), [&]<typename TT>() {
    timestep_kernel<TT><<<grid_for(n), kThreads, 0, stream()>>>(out.data<float>(), t.data<TT>(), t.stride(0), batch,
                                                                dim, half, cos_first, freqs);
    WMA_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace wma::cuda
