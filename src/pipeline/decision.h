// What upstream's policy server computes per request (scripts/evaluation/real_eval_server.py Server.predict_action,
// docs/upstream.md#policy-server): the observation frames through the server's image pipeline, the states min-max
// normalised with the dataset stats and zero-padded, one decision-making pass whose context is [state | text | image]
// (no action tokens), and the predicted actions cut to the robot's width and un-normalised. No HTTP here: app/serve
// turns requests into DecisionRequest.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/stats.h"
#include "pipeline/noise.h"
#include "pipeline/profile.h"
#include "pipeline/synthesis.h"
#include "pipeline/world_model.h"

namespace wma::pipeline {

// The shapes a request must have, from the model and the dataset stats.
struct DecisionShapes {
  std::int64_t observation_steps = 2;  // frames and states per request (n_obs_steps_imagen)
  std::int64_t state_dim = 0;          // the robot's state width (stats `observation.state`)
  std::int64_t action_dim = 0;         // the robot's action width (stats `action`)
  std::int64_t action_rows = 16;       // the action chunk a request carries and gets back (video_length)
};

// One request, already checked against DecisionShapes.
struct DecisionRequest {
  std::string instruction;
  Tensor images;  // f32 [O, 3, H, W] integer pixel values 0..255, oldest first (observation.images.top)
  Tensor states;  // f32 [O, state_dim] raw joint values (observation.state)
};

struct DecisionSettings {
  PassOptions pass;      // run_real_eval_server.sh: 16 DDIM steps, uniform_trailing, eta 1
  std::int64_t fs = 15;  // int(30 / frame_stride), frame_stride 2
  std::string savedir;   // where the imagined videos go; empty: none, and the VAE decode is skipped
  int save_fps = 8;
};

struct DecisionResult {
  std::vector<float> actions;  // [action_rows, action_dim] un-normalised, row-major
  std::int64_t rows = 0, action_dim = 0;
  std::string video_path;  // the file written, or empty
};

class DecisionPolicy {
 public:
  // Throws when the stats lack `action` or `observation.state` min/max or are wider than the model's
  // agent dims.
  DecisionPolicy(const WorldModel& model, const models::ClipTokenizer& tokenizer, io::NormalizationStats stats,
                 DecisionSettings settings, std::unique_ptr<NoiseSource> noise);

  const DecisionShapes& shapes() const { return shapes_; }
  const DecisionSettings& settings() const { return settings_; }
  Device device() const { return model_.options.device; }

  // Image pipeline and state normalisation into one pass's input (CPU tensors). Touches no model or noise
  // state, so request threads may call it while run() computes another request.
  PassInput prepare(const DecisionRequest& request) const;

  // One pass, drawing from the one noise stream every request continues (upstream seeds once at start-up),
  // so calls must not overlap. `video_stem` names the saved video (<savedir>/<video_stem>.mp4).
  DecisionResult run(const PassInput& input, const std::string& video_stem, Profiler* profiler = nullptr);

 private:
  const WorldModel& model_;
  io::NormalizationStats stats_;
  DecisionSettings settings_;
  DecisionShapes shapes_;
  std::unique_ptr<NoiseSource> noise_;
  Synthesizer synthesizer_;
};

}  // namespace wma::pipeline
