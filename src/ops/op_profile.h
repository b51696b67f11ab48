// Per-op GPU time for finding hot spots: with profiling on, every CUDA op dispatch is bracketed by two events
// on the backend stream, and the table sums the GPU time between them per (scope tag, op). Launch gaps and
// host work are not counted, so the shares rank the GPU work; the engine's speed is `wma bench` without it.
// CUDA graphs are off while profiling (a replayed graph dispatches no ops).
#pragma once

#include <cstdint>
#include <string>

#include "core/device.h"
#include "core/tensor.h"

namespace wma::ops {

void set_op_profiling(bool enabled);
bool op_profiling();
// "scope/op  calls  total ms  ms/step  GB/s  share" rows, largest total first, then the GPU time per denoiser
// step of the glue (every denoise op that is not a linear, matmul, convolution or attention); empty when
// nothing was recorded. `denoiser_steps` divides the denoise rows. Waits for the device and clears the records.
std::string op_profile_table(int denoiser_steps);

// Ops dispatched while a tag is alive are counted under it ("denoise", "decode", ...); innermost wins.
class ScopedOpTag {
 public:
  explicit ScopedOpTag(const char* tag);
  ~ScopedOpTag();
  ScopedOpTag(const ScopedOpTag&) = delete;
  ScopedOpTag& operator=(const ScopedOpTag&) = delete;

 private:
  const char* previous_;
};

namespace detail {
class OpTimer {
 public:
  // `like`: the operand whose shape keys the row when WMA_OP_PROFILE_SHAPES=1 (one row per op and shape).
  OpTimer(const char* op, Device device, std::int64_t bytes = 0, const Tensor* like = nullptr);
  ~OpTimer();
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  const char* op_ = nullptr;  // null when not timing
  std::string shape_;
  int start_ = -1;
  std::int64_t bytes_ = 0;
};
}  // namespace detail

}  // namespace wma::ops
