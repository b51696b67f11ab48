// Per-op GPU time for finding hot spots: with profiling on, every CUDA op dispatch is bracketed by device
// synchronisations and its wall time added under the op's name. The synchronisations change what is measured
// (no overlap, launch gaps exposed), so these numbers rank ops; they are not the engine's speed.
#pragma once

#include <string>

#include "core/device.h"

namespace wma::ops {

void set_op_profiling(bool enabled);
bool op_profiling();
// "op  calls  total ms  share" rows, largest total first; empty when nothing was recorded.
std::string op_profile_table();
void reset_op_profile();

namespace detail {
class OpTimer {
 public:
  OpTimer(const char* op, Device device);
  ~OpTimer();
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  const char* op_ = nullptr;  // null when not timing
  double start_ = 0;
};
}  // namespace detail

}  // namespace wma::ops
