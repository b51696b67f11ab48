// Runs the denoiser of one sampling pass, step after step. On CUDA every step copies its inputs into buffers at
// fixed addresses and runs as a GraphReplay (graph_replay.h): the first step eagerly, the second captured, every
// later one replayed. WMA_CUDA_GRAPHS=0 runs every step eagerly (for bisecting).
#pragma once

#include "models/wma_model.h"
#include "pipeline/graph_replay.h"

namespace wma::pipeline {

class DenoiserRunner {
 public:
  DenoiserRunner(const models::WMAModel& model, const models::WMAPass& pass, Device device, bool use_graph);
  ~DenoiserRunner();
  DenoiserRunner(const DenoiserRunner&) = delete;
  DenoiserRunner& operator=(const DenoiserRunner&) = delete;

  // x [B, T, h, w, C] f32, actions/states [B, horizon, dim] f32, t [B] i64, all on the model's device. The
  // outputs stay valid until the next call.
  const models::WMADenoised& operator()(const Tensor& x, const Tensor& actions, const Tensor& states, const Tensor& t);
  bool replaying() const { return graph_.replaying(); }

 private:
  void stage_inputs(const Tensor& x, const Tensor& actions, const Tensor& states, const Tensor& t);

  const models::WMAModel& model_;
  const models::WMAPass& pass_;
  bool use_graph_;
  GraphReplay graph_;  // before the tensors, which may hold its pool's blocks
  Tensor x_in_, actions_in_, states_in_, t_in_;
  models::WMADenoised out_;
};

}  // namespace wma::pipeline
