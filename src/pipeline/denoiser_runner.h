// Runs the denoiser of one sampling pass, step after step. On CUDA the first step runs eagerly through a
// private memory pool (creating the cuBLASLt/cuDNN plans and growing the pool to the step's size), the second
// is captured into a CUDA graph whose inputs and outputs stay at fixed addresses, and every later step copies
// its inputs in and replays the graph: no allocation, host copy or synchronisation per step. If a capture
// fails, the pass goes on eagerly with a warning. WMA_CUDA_GRAPHS=0 runs every step eagerly (for bisecting).
#pragma once

#include <memory>

#include "core/allocator.h"
#include "models/wma_model.h"
#include "ops/device.h"

namespace wma::pipeline {

// Whether sampling passes on CUDA capture their denoiser step as a graph (default on; WMA_CUDA_GRAPHS=0 off).
bool cuda_graphs_enabled();

class DenoiserRunner {
 public:
  DenoiserRunner(const models::WMAModel& model, const models::WMAPass& pass, Device device, bool use_graph);
  ~DenoiserRunner();
  DenoiserRunner(const DenoiserRunner&) = delete;
  DenoiserRunner& operator=(const DenoiserRunner&) = delete;

  // x [B, T, h, w, C] f32, actions/states [B, horizon, dim] f32, t [B] i64, all on the model's device. The
  // outputs stay valid until the next call.
  const models::WMADenoised& operator()(const Tensor& x, const Tensor& actions, const Tensor& states, const Tensor& t);
  bool replaying() const { return replaying_; }

 private:
  void stage_inputs(const Tensor& x, const Tensor& actions, const Tensor& states, const Tensor& t);
  const models::WMADenoised& run_eager(const Tensor& x, const Tensor& actions, const Tensor& states, const Tensor& t);

  const models::WMAModel& model_;
  const models::WMAPass& pass_;
  bool use_graph_;
  int calls_ = 0;
  bool replaying_ = false;
  std::unique_ptr<PoolAllocator> pool_;
  Tensor x_in_, actions_in_, states_in_, t_in_;
  models::WMADenoised out_;
  ops::DeviceGraph graph_;
};

}  // namespace wma::pipeline
