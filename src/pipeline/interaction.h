// The interaction loop of upstream's scripts/evaluation/world_model_interaction.py (docs/upstream.md#interaction-loop):
// observation queues, a policy pass whose actions are fed forward, a world-model pass whose decoded frames
// and predicted states are fed back, n_iter times.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "pipeline/synthesis.h"

namespace wma::pipeline {

// Upstream's deques with populate_queues (scripts/evaluation/eval_utils.py L49-61): a push into a queue
// that is not full fills it with copies; a push into a full one drops the oldest.
class ObservationQueues {
 public:
  ObservationQueues(std::int64_t n_obs_steps, std::int64_t action_length);
  void push_image(const Tensor& image);              // [H, W, 3]
  void push_state(const std::vector<float>& state);  // [state_dim]
  void push_action(const std::vector<float>& action);
  // Stacked oldest first: images [1, O, H, W, 3], state [1, O, D], action [1, L, D] (CPU).
  Tensor images() const;
  Tensor states() const;
  Tensor actions() const;

 private:
  template <typename T>
  static void push(std::deque<T>& queue, std::size_t maxlen, const T& item);
  std::size_t n_obs_, action_length_;
  std::deque<Tensor> images_;
  std::deque<std::vector<float>> states_, actions_;
};

struct InteractionOptions {
  PassOptions pass;
  int n_iter = 1;
  int exe_steps = 16;
  bool zero_pred_state = false;
  std::int64_t model_fs = 7;  // fps conditioning: csv fps // frame_stride
  bool progress = true;
};

struct EpisodeStart {
  Tensor image;              // [H, W, 3] in [-1, 1]
  std::vector<float> state;  // normalised, padded
  std::string instruction;
  std::int64_t state_dim = 0, action_dim = 0;  // the robot's dims; the padding beyond is zeroed
};

struct IterationResult {
  int index = 0;
  PassOutput policy;  // pred_videos_0, pred_actions (padding zeroed)
  PassOutput world;   // pred_videos_1, pred_states (padding zeroed)
  // The queues after this iteration's feedback (what the next policy pass sees), as ObservationQueues stacks them.
  Tensor queue_images, queue_states, queue_actions;
};

// Runs the loop; `on_iteration` (timed as save_results) receives each iteration's results.
void run_interaction(Synthesizer& synthesizer, const EpisodeStart& start, const InteractionOptions& options,
                     NoiseSource& noise, Profiler* profiler,
                     const std::function<void(const IterationResult&)>& on_iteration);

}  // namespace wma::pipeline
