// torch.randn on CUDA, computed where torch computes it: ATen's distribution_elementwise_grid_stride_kernel
// (cuda/DistributionTemplates.h) with curand's Philox4_32_10 and curand_normal4, the same device code and
// launch shape, so the values are torch's bit for bit (core/rng.h emulates the same stream on the CPU).
#include <curand_kernel.h>

#include "backends/cuda/common.cuh"

namespace wma::cuda {
namespace {

constexpr int kUnroll = 4;

__global__ void torch_randn_kernel(float* out, std::uint64_t numel, std::uint64_t seed, std::uint64_t offset) {
  const std::uint64_t idx = blockIdx.x * static_cast<std::uint64_t>(blockDim.x) + threadIdx.x;
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  curandStatePhilox4_32_10_t state;
  curand_init(seed, idx, offset, &state);
  for (std::uint64_t first = idx; first < numel; first += stride * kUnroll) {
    const float4 r = curand_normal4(&state);
    const float values[kUnroll] = {r.x, r.y, r.z, r.w};
    for (int ii = 0; ii < kUnroll; ++ii) {
      const std::uint64_t li = first + stride * ii;
      // transformation::normal with std 1, mean 0: the multiply-add turns -0.0 into +0.0 as in ATen.
      if (li < numel) out[li] = values[ii] * 1.0f + 0.0f;
    }
  }
}

}  // namespace

void torch_randn(const Tensor& out, std::uint64_t seed, std::uint64_t philox_offset, std::uint32_t blocks,
                 std::uint32_t threads_per_block) {
  WMA_CHECK(out.device() == Device::CUDA && out.dtype() == DType::F32 && out.is_contiguous(),
            "[torch_randn] needs a contiguous f32 CUDA tensor, got ", out.describe());
  if (out.numel() == 0) return;
  torch_randn_kernel<<<blocks, threads_per_block, 0, stream()>>>(out.data<float>(),
                                                                 static_cast<std::uint64_t>(out.numel()), seed,
                                                                 philox_offset);
  WMA_CUDA_CHECK_LAUNCH();
}

}  // namespace wma::cuda
