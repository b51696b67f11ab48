// world_model_interaction.py's per-episode loop (L512-673) over the Synthesizer.
#include "pipeline/interaction.h"

#include <algorithm>

#include "core/error.h"
#include "ops/ops.h"

namespace wma::pipeline {

ObservationQueues::ObservationQueues(std::int64_t n_obs_steps, std::int64_t action_length)
    : n_obs_(static_cast<std::size_t>(n_obs_steps)), action_length_(static_cast<std::size_t>(action_length)) {}

template <typename T>
void ObservationQueues::push(std::deque<T>& queue, std::size_t maxlen, const T& item) {
  if (queue.size() == maxlen) queue.pop_front();
  while (queue.size() < maxlen) queue.push_back(item);
}

void ObservationQueues::push_image(const Tensor& image) { push(images_, n_obs_, ops::to_device(image, Device::CPU)); }
void ObservationQueues::push_state(const std::vector<float>& state) { push(states_, n_obs_, state); }
void ObservationQueues::push_action(const std::vector<float>& action) { push(actions_, action_length_, action); }

Tensor ObservationQueues::images() const {
  std::vector<Tensor> frames;
  for (const Tensor& f : images_) frames.push_back(f.unsqueeze(0));
  return ops::concat(frames, 0).unsqueeze(0);
}

namespace {
Tensor stack_rows(const std::deque<std::vector<float>>& rows) {
  std::vector<float> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return Tensor::from_floats({1, static_cast<std::int64_t>(rows.size()),
                              static_cast<std::int64_t>(rows.front().size())},
                             flat);
}

// Row `idx` of a [1, T, D] tensor with dims >= keep zeroed (upstream zeroes them in place,
// docs/upstream.md#padding-zeroed-in-place).
std::vector<float> row_with_padding_zeroed(const Tensor& t, std::int64_t idx, std::int64_t keep) {
  std::vector<float> row = t.select(0, 0).select(0, idx).to_floats();
  std::fill(row.begin() + std::min<std::int64_t>(keep, static_cast<std::int64_t>(row.size())), row.end(), 0.0f);
  return row;
}

void zero_padding(Tensor& t, std::int64_t keep) {
  std::vector<float> v = t.to_floats();
  const std::int64_t d = t.size(-1);
  for (std::size_t i = 0; i < v.size(); ++i)
    if (static_cast<std::int64_t>(i) % d >= keep) v[i] = 0.0f;
  t = Tensor::from_floats(t.shape(), v);
}
}  // namespace

Tensor ObservationQueues::states() const { return stack_rows(states_); }
Tensor ObservationQueues::actions() const { return stack_rows(actions_); }

void run_interaction(Synthesizer& synth, const EpisodeStart& start, const InteractionOptions& options,
                     NoiseSource& noise, Profiler* profiler,
                     const std::function<void(const IterationResult&)>& on_iteration) {
  const std::int64_t T = options.pass.video_length;
  WMA_CHECK(options.exe_steps >= 1 && options.exe_steps <= T, "[interaction] exe_steps ", options.exe_steps,
            " outside [1, ", T, "]");
  const WorldModelConfig& config = synth.model().config;
  WMA_CHECK(start.image.defined(), "[interaction] no initial observation image");
  ObservationQueues queues(config.n_obs_steps_imagen, T);
  const std::vector<float> zero_action(static_cast<std::size_t>(config.projectors.agent_action_dim), 0.0f);
  queues.push_image(start.image);
  queues.push_state(start.state);
  queues.push_action(zero_action);

  ProgressBar episode_bar("episode", options.n_iter, options.progress);
  for (int itr = 0; itr < options.n_iter; ++itr) {
    const auto iteration_timer = Profiler::scope(profiler, "iteration_total");
    IterationResult result;
    result.index = itr;
    {
      const auto timer = Profiler::scope(profiler, "action_generation");
      ProgressBar bar("  policy pass " + std::to_string(itr), options.pass.ddim_steps, options.progress);
      PassInput in{queues.images(), queues.states(), queues.actions(), start.instruction, false, options.model_fs};
      result.policy = synth.run(in, noise, profiler, [&] { bar.tick(); });
      zero_padding(result.policy.actions, start.action_dim);
      for (std::int64_t idx = 0; idx < T; ++idx)
        queues.push_action(row_with_padding_zeroed(result.policy.actions, idx, start.action_dim));
    }
    {
      const auto timer = Profiler::scope(profiler, "world_model_interaction");
      ProgressBar bar("  world pass  " + std::to_string(itr), options.pass.ddim_steps, options.progress);
      PassInput in{queues.images(), queues.states(), queues.actions(), "", true, options.model_fs};
      result.world = synth.run(in, noise, profiler, [&] { bar.tick(); });
      if (options.zero_pred_state) result.world.states = Tensor::zeros(result.world.states.shape());
      zero_padding(result.world.states, start.state_dim);
      const Tensor frames = ops::to_device(result.world.video, Device::CPU);
      for (int idx = 0; idx < options.exe_steps; ++idx) {
        queues.push_image(frames.select(0, 0).select(0, idx));
        queues.push_state(row_with_padding_zeroed(result.world.states, idx, start.state_dim));
        queues.push_action(zero_action);
      }
    }
    result.queue_images = queues.images();
    result.queue_states = queues.states();
    result.queue_actions = queues.actions();
    {
      const auto timer = Profiler::scope(profiler, "save_results");
      if (on_iteration) on_iteration(result);
    }
    episode_bar.tick();
  }
}

}  // namespace wma::pipeline
