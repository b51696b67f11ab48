// The two backends implement the same kernel list (kernels.inc); ops/ dispatches on device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/tensor.h"
#include "ops/ops.h"

namespace wma {

enum class BinaryOp : std::uint8_t { Add, Sub, Mul };

namespace cpu {
#include "backends/kernels.inc"
}  // namespace cpu

#if WMA_WITH_CUDA
namespace cuda {
#include "backends/kernels.inc"
}  // namespace cuda
#endif

}  // namespace wma

#if WMA_WITH_CUDA
namespace wma::cuda {
// Initialises the device (once) and registers the CUDA default allocator; throws when no GPU.
void init();
bool available();
// dst and src contiguous, same dtype and shape; at least one of them on the GPU.
void copy_across_devices(const Tensor& dst, const Tensor& src);
void synchronize();

struct MemoryStats {
  std::size_t allocated_bytes = 0;       // live tensors (weights included), like torch.cuda.memory_allocated
  std::size_t peak_allocated_bytes = 0;  // since start or the last reset_peak_memory()
  std::size_t device_used_bytes = 0;     // the whole device as cudaMemGetInfo reports it (context, caches, others)
  std::size_t device_total_bytes = 0;
};
MemoryStats memory_stats();
std::string device_name();  // e.g. "NVIDIA H100 80GB HBM3 (132 SMs, driver 580.159.04)"
void reset_peak_memory();
}  // namespace wma::cuda
#endif
