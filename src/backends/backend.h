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
