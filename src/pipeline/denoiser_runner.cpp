#include "pipeline/denoiser_runner.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "core/log.h"
#include "ops/op_profile.h"
#include "ops/ops.h"

namespace wma::pipeline {
namespace {
// Slabs of the step pool: a full-size step's largest activation is ~210 MB (the GEGLU hidden state at L0).
constexpr std::size_t kPoolSlabBytes = std::size_t{256} << 20;

Tensor empty_like_on(const Tensor& t) { return Tensor::empty(t.shape(), t.dtype(), t.device()); }
}  // namespace

bool cuda_graphs_enabled() {
  const char* env = std::getenv("WMA_CUDA_GRAPHS");
  return (env == nullptr || std::strcmp(env, "0") != 0) && !ops::op_profiling();
}

DenoiserRunner::DenoiserRunner(const models::WMAModel& model, const models::WMAPass& pass, Device device,
                               bool use_graph)
    : model_(model), pass_(pass), use_graph_(use_graph && device == Device::CUDA) {
  if (use_graph_) pool_ = std::make_unique<PoolAllocator>(current_allocator(device), kPoolSlabBytes);
}

DenoiserRunner::~DenoiserRunner() = default;

void DenoiserRunner::stage_inputs(const Tensor& x, const Tensor& actions, const Tensor& states, const Tensor& t) {
  if (!x_in_.defined()) {
    x_in_ = empty_like_on(x), actions_in_ = empty_like_on(actions), states_in_ = empty_like_on(states);
    t_in_ = empty_like_on(t);
  }
  WMA_CHECK(x.shape() == x_in_.shape() && actions.shape() == actions_in_.shape() &&
                states.shape() == states_in_.shape() && t.shape() == t_in_.shape(),
            "[denoiser] input shapes changed within a pass: x ", x.describe(), ", actions ", actions.describe());
  ops::copy_into(x_in_, x);
  ops::copy_into(actions_in_, actions);
  ops::copy_into(states_in_, states);
  ops::copy_into(t_in_, t);
}

const models::WMADenoised& DenoiserRunner::run_eager(const Tensor& x, const Tensor& actions, const Tensor& states,
                                                     const Tensor& t) {
  out_ = {};
  out_ = model_.denoise(x, actions, states, t, pass_);
  return out_;
}

const models::WMADenoised& DenoiserRunner::operator()(const Tensor& x, const Tensor& actions, const Tensor& states,
                                                      const Tensor& t) {
  ++calls_;
  const ops::ScopedOpTag tag("denoise");
  if (!use_graph_) return run_eager(x, actions, states, t);
  stage_inputs(x, actions, states, t);
  if (replaying_) {
    graph_.launch();
    return out_;
  }
  out_ = {};
  ScopedAllocator scope(*pool_);
  if (calls_ == 1) {
    out_ = model_.denoise(x_in_, actions_in_, states_in_, t_in_, pass_);
    return out_;
  }
  try {
    pool_->set_frozen(true);
    graph_.begin_capture();
    out_ = model_.denoise(x_in_, actions_in_, states_in_, t_in_, pass_);
    graph_.end_capture();
    pool_->set_frozen(false);
  } catch (const Error& e) {
    graph_.abandon_capture();
    pool_->set_frozen(false);
    out_ = {};
    log_warn("[denoiser] CUDA graph capture failed, running the rest of this pass eagerly: ", e.what());
    use_graph_ = false;
    return run_eager(x, actions, states, t);
  }
  replaying_ = true;
  graph_.launch();
  return out_;
}

}  // namespace wma::pipeline
