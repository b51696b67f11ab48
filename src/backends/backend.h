// The two backends implement the same kernel list (kernels.inc); ops/ dispatches on device.
#pragma once

#include <cstdint>

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
}  // namespace wma::cuda
#endif
