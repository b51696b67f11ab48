// Choosing a library algorithm by timing it. cuBLASLt's and cuDNN's heuristics rank their candidates by a model
// of the card, and the first one is often not the fastest for a given shape (issue 14), so each plan cache times
// its few best candidates once, on the real operands, when the shape is first seen, and keeps the winner.
#pragma once

#include <cuda_runtime.h>

#include <limits>

#include "backends/cuda/context.h"
#include "backends/cuda/cuda_check.h"

namespace wma::cuda {

// How many of a heuristic's candidates are timed; the rest are rarely faster and each costs a few launches.
constexpr int kAutotuneCandidates = 6;

// Tuning runs kernels and waits for them, which a stream under CUDA graph capture cannot do (and must not
// record); such a first use takes the heuristic's first choice. WMA_CUDA_AUTOTUNE=0 does the same everywhere,
// for bit-identical results from run to run.
inline bool autotune_allowed() {
  if (!context().autotune_) return false;
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  WMA_CUDA_CHECK(cudaStreamIsCapturing(stream(), &status));
  return status == cudaStreamCaptureStatusNone;
}

// The best of a few timed calls of `launch` (which enqueues work on the engine stream and returns false when the
// candidate cannot run), after one untimed call that absorbs first-use costs; +inf for a candidate that fails.
// The minimum, not the mean: a candidate is as fast as it can be made to run, and noise only adds.
template <typename Launch>
float best_time_ms(Launch&& launch) {
  constexpr int kReps = 3;
  constexpr float kFailed = std::numeric_limits<float>::infinity();
  if (!launch()) return kFailed;
  cudaEvent_t start = nullptr, end = nullptr;
  WMA_CUDA_CHECK(cudaEventCreate(&start));
  WMA_CUDA_CHECK(cudaEventCreate(&end));
  float best = kFailed;
  for (int rep = 0; rep < kReps; ++rep) {
    WMA_CUDA_CHECK(cudaEventRecord(start, stream()));
    const bool ok = launch();
    WMA_CUDA_CHECK(cudaEventRecord(end, stream()));
    WMA_CUDA_CHECK(cudaEventSynchronize(end));
    float ms = kFailed;
    if (ok) WMA_CUDA_CHECK(cudaEventElapsedTime(&ms, start, end));
    if (ms < best) best = ms;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(end);
  return best;
}

}  // namespace wma::cuda
