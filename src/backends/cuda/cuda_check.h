// Error checks for CUDA runtime, cuBLAS(Lt) and cuDNN calls: a failure becomes a wma::Error
// naming the failing expression, the library's message and file:line, so a bad launch deep
// inside an op reads as "[cuda] ... at conv.cu:120" rather than a bare status code.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "core/error.h"

// cuDNN is optional: the build defines WMA_WITH_CUDNN=1 only when it found and linked it.
#if defined(WMA_WITH_CUDNN) && WMA_WITH_CUDNN
#include <cudnn.h>
#endif

namespace wma::cuda::detail {

[[noreturn]] inline void fail_cuda(cudaError_t e, const char* expr, const char* file, int line) {
  fail("[cuda] ", expr, " failed: ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ") at ", file, ":", line);
}

[[noreturn]] inline void fail_cublas(cublasStatus_t s, const char* expr, const char* file, int line) {
  fail("[cublas] ", expr, " failed: ", cublasGetStatusName(s), " (", cublasGetStatusString(s), ") at ", file, ":",
       line);
}

#if defined(WMA_WITH_CUDNN) && WMA_WITH_CUDNN
[[noreturn]] inline void fail_cudnn(cudnnStatus_t s, const char* expr, const char* file, int line) {
  fail("[cudnn] ", expr, " failed: ", cudnnGetErrorString(s), " at ", file, ":", line);
}
#endif

}  // namespace wma::cuda::detail

#define WMA_CUDA_CHECK(expr)                                                                                    \
  do {                                                                                                          \
    const cudaError_t wma_cuda_err_ = (expr);                                                                   \
    if (wma_cuda_err_ != cudaSuccess) ::wma::cuda::detail::fail_cuda(wma_cuda_err_, #expr, __FILE__, __LINE__); \
  } while (0)

// After a <<<...>>> launch: catches bad configurations without synchronising.
#define WMA_CUDA_CHECK_LAUNCH() WMA_CUDA_CHECK(cudaGetLastError())

#define WMA_CUBLAS_CHECK(expr)                                                     \
  do {                                                                             \
    const cublasStatus_t wma_cublas_st_ = (expr);                                  \
    if (wma_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                   \
      ::wma::cuda::detail::fail_cublas(wma_cublas_st_, #expr, __FILE__, __LINE__); \
  } while (0)

#if defined(WMA_WITH_CUDNN) && WMA_WITH_CUDNN
#define WMA_CUDNN_CHECK(expr)                                                    \
  do {                                                                           \
    const cudnnStatus_t wma_cudnn_st_ = (expr);                                  \
    if (wma_cudnn_st_ != CUDNN_STATUS_SUCCESS)                                   \
      ::wma::cuda::detail::fail_cudnn(wma_cudnn_st_, #expr, __FILE__, __LINE__); \
  } while (0)
#endif
