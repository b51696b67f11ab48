// The CUDA backend's process-wide state, created once by cuda::init(): the engine stream
// every kernel is launched on (so one CUDA graph can capture a whole step), the cuBLASLt
// handle with its workspace, and the device properties kernels size their grids from.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>

namespace wma::cuda {

struct Context {
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  void* workspace_ = nullptr;
  std::size_t workspace_bytes_ = 0;
  int sm_count_ = 0;
  std::size_t max_smem_per_block_ = 0;  // opt-in limit, above the default 48 KB
};

// The initialised context; throws when cuda::init() has not run.
Context& context();
inline cudaStream_t stream() { return context().stream_; }

}  // namespace wma::cuda
