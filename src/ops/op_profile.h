// Per-op GPU time for finding hot spots: with profiling on, every CUDA op dispatch is bracketed by two events
// on the backend stream, and the table sums the GPU time between them per (scope tag, op). Launch gaps and
// host work are not counted, so the shares rank the GPU work; the engine's speed is `wma bench` without it.
// CUDA graphs are off while profiling (a replayed graph dispatches no ops).
#pragma once

#include <string>

#include "core/device.h"

namespace wma::ops {

void set_op_profiling(bool enabled);
bool op_profiling();
// "scope/op  calls  total ms  share" rows, largest total first; empty when nothing was recorded. Waits for the
// device and clears the records.
std::string op_profile_table();

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
  OpTimer(const char* op, Device device);
  ~OpTimer();
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  const char* op_ = nullptr;  // null when not timing
  int start_ = -1;
};
}  // namespace detail

}  // namespace wma::ops
