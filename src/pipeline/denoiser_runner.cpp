#include "pipeline/denoiser_runner.h"

#include "core/error.h"
#include "ops/op_profile.h"
#include "ops/ops.h"

namespace wma::pipeline {
namespace {
// Slabs of the step pool: a full-size step's largest activation is ~210 MB (the GEGLU hidden state at L0).
constexpr std::size_t kPoolSlabBytes = std::size_t{256} << 20;

Tensor empty_like_on(const Tensor& t) { return Tensor::empty(t.shape(), t.dtype(), t.device()); }
}  // namespace

DenoiserRunner::DenoiserRunner(const models::WMAModel& model, const models::WMAPass& pass, Device device,
                               bool use_graph)
    : model_(model),
      pass_(pass),
      use_graph_(use_graph && device == Device::CUDA),
      graph_(device, use_graph_, kPoolSlabBytes, "denoiser") {}

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

const models::WMADenoised& DenoiserRunner::operator()(const Tensor& x, const Tensor& actions, const Tensor& states,
                                                      const Tensor& t) {
  const ops::ScopedOpTag tag("denoise");
  if (!use_graph_) {
    out_ = {};
    out_ = model_.denoise(x, actions, states, t, pass_);
    return out_;
  }
  stage_inputs(x, actions, states, t);
  graph_.run([&] {
    out_ = {};
    out_ = model_.denoise(x_in_, actions_in_, states_in_, t_in_, pass_);
  });
  return out_;
}

}  // namespace wma::pipeline
