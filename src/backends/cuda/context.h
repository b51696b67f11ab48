// The CUDA backend's process-wide state, created once by cuda::init(): the engine stream
// every kernel is launched on (so one CUDA graph can capture a whole step), the cuBLASLt
// handle with its workspace, the cuDNN handle when built with it, the device properties
// kernels size their grids from, the compute capability they dispatch on, and the knob that
// routes ops to their general kernels.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>

#if defined(WMA_WITH_CUDNN) && WMA_WITH_CUDNN
#include <cudnn.h>
#endif

namespace wma::cuda {

// Per-sample arrival counters of the GroupNorm statistics kernel (zero between launches).
constexpr std::int64_t kNormCounterSlots = 65536;

struct Context {
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  // Scratch shared by cuBLASLt and cuDNN: both run in stream order on stream_, so one
  // buffer serves every library call.
  void* workspace_ = nullptr;
  std::size_t workspace_bytes_ = 0;
#if defined(WMA_WITH_CUDNN) && WMA_WITH_CUDNN
  cudnnHandle_t cudnn_ = nullptr;
#endif
  unsigned* norm_counters_ = nullptr;  // kNormCounterSlots, zeroed at init
  int sm_count_ = 0;
  int max_threads_per_sm_ = 0;
  std::size_t max_smem_per_block_ = 0;  // opt-in limit, above the default 48 KB
  int capability_ = 0;                  // see capability()
  // Hopper's wgmma kernels may run: capability() >= 90 and the loaded code is sm_90a.
  bool wgmma_ = false;
  // When set, conv2d, conv_temporal, attention and group_norm skip their fast paths
  // (tensor cores, cuDNN, split statistics) and run the general kernels: the benchmark
  // compares the two and tests can cross-check them.
  bool general_kernels_only_ = false;
  // GEMM and convolution algorithms chosen by timing (autotune.h); WMA_CUDA_AUTOTUNE=0 turns it off.
  bool autotune_ = true;
};

// The initialised context; throws when cuda::init() has not run.
Context& context();
inline cudaStream_t stream() { return context().stream_; }

// The compute capability the kernels may use, major*10+minor (80 A100, 86 RTX 30xx, 87 Jetson Orin, 89 Ada,
// 90 Hopper): the device's, lowered to the architecture the loaded code was compiled for (80 on an H200 running
// a compute_80 PTX build) and to WMA_CUDA_MAX_CAPABILITY when set, so an H200 can test what older cards run.
// A kernel that needs sm_90 runs where capability() >= 90 and falls back to its mma.sync/cuBLASLt/cuDNN path
// otherwise (docs/ops.md).
inline int capability() { return context().capability_; }

// Routes ops to the general kernels for the lifetime of the object (not thread-safe: the
// backend has one stream and one caller).
class ScopedGeneralKernels {
 public:
  ScopedGeneralKernels() : saved_(context().general_kernels_only_) { context().general_kernels_only_ = true; }
  ~ScopedGeneralKernels() { context().general_kernels_only_ = saved_; }
  ScopedGeneralKernels(const ScopedGeneralKernels&) = delete;
  ScopedGeneralKernels& operator=(const ScopedGeneralKernels&) = delete;

 private:
  bool saved_;
};

}  // namespace wma::cuda
