// One fixed-shape piece of work run again and again, on CUDA as a replayed graph. The first run goes eagerly
// through a private memory pool (creating the cuBLASLt/cuDNN plans, timing their candidates and growing the pool
// to the work's size), the second is captured into a CUDA graph, and every later run replays it: no allocation,
// host copy or synchronisation. The work reads inputs and writes outputs that the caller keeps at fixed
// addresses (tensors held across runs; what the work allocates comes from the pool, whose addresses repeat). If
// a capture fails, the work goes on eagerly with a warning. Off CUDA, or with graphs off, every run is eager.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "core/allocator.h"
#include "core/device.h"
#include "ops/device.h"

namespace wma::pipeline {

// Whether repeated work on CUDA is captured as graphs (default on; WMA_CUDA_GRAPHS=0 off, and off while ops are
// profiled, since the profile times every op on its own).
bool cuda_graphs_enabled();

class GraphReplay {
 public:
  // `what` names the work in the warning a failed capture prints.
  GraphReplay(Device device, bool use_graph, std::size_t pool_slab_bytes, std::string what);
  ~GraphReplay();
  GraphReplay(const GraphReplay&) = delete;
  GraphReplay& operator=(const GraphReplay&) = delete;

  // `work` recomputes the outputs from the inputs; it must drop the previous run's outputs before computing the
  // new ones (their pool blocks are then reused at the same addresses). It is not called on a replay.
  void run(const std::function<void()>& work);
  bool replaying() const { return replaying_; }

 private:
  std::string what_;
  int runs_ = 0;
  bool replaying_ = false;
  bool capture_failed_ = false;
  std::unique_ptr<PoolAllocator> pool_;  // null: every run eager on the current allocator
  ops::DeviceGraph graph_;
};

}  // namespace wma::pipeline
