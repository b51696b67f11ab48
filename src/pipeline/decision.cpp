// Server.predict_action of upstream's real_eval_server.py, on the shared Synthesizer.
#include "pipeline/decision.h"

#include <filesystem>

#include "core/error.h"
#include "io/video.h"
#include "ops/ops.h"
#include "pipeline/image_preprocess.h"
#include "pipeline/outputs.h"

namespace wma::pipeline {

DecisionPolicy::DecisionPolicy(const WorldModel& model, const models::ClipTokenizer& tokenizer,
                               io::NormalizationStats stats, DecisionSettings settings,
                               std::unique_ptr<NoiseSource> noise)
    : model_(model),
      stats_(std::move(stats)),
      settings_(std::move(settings)),
      noise_(std::move(noise)),
      synthesizer_(model, tokenizer, settings_.pass) {
  const WorldModelConfig& c = model.config;
  shapes_.observation_steps = c.n_obs_steps_imagen;
  shapes_.state_dim = static_cast<std::int64_t>(stats_.at("observation.state").min.size());
  shapes_.action_dim = static_cast<std::int64_t>(stats_.at("action").min.size());
  shapes_.action_rows = settings_.pass.video_length;
  WMA_CHECK(shapes_.state_dim <= c.projectors.agent_state_dim, "[decision] ", stats_.path(), ": observation.state has ",
            shapes_.state_dim, " dims, the model (", c.source, ") takes at most ", c.projectors.agent_state_dim);
  WMA_CHECK(shapes_.action_dim <= c.projectors.agent_action_dim, "[decision] ", stats_.path(), ": action has ",
            shapes_.action_dim, " dims, the model (", c.source, ") predicts ", c.projectors.agent_action_dim);
  WMA_CHECK(c.n_obs_steps_acting <= c.n_obs_steps_imagen, "[decision] ", c.source, ": n_obs_steps_acting ",
            c.n_obs_steps_acting, " exceeds n_obs_steps_imagen ", c.n_obs_steps_imagen);
  WMA_CHECK(noise_ != nullptr, "[decision] no noise source");
}

PassInput DecisionPolicy::prepare(const DecisionRequest& request) const {
  const WorldModelConfig& c = model_.config;
  const std::int64_t steps = shapes_.observation_steps;
  WMA_CHECK(request.images.dim() == 4 && request.images.size(0) == steps && request.images.size(1) == 3,
            "[decision] expected images [", steps, ", 3, H, W], got ", request.images.describe());
  WMA_CHECK(request.states.dim() == 2 && request.states.size(0) == steps && request.states.size(1) == shapes_.state_dim,
            "[decision] expected states [", steps, ", ", shapes_.state_dim, "], got ", request.states.describe());
  const std::int64_t h = c.video_height(), w = c.video_width();

  // Upstream resizes the request's int64 tensor, so torchvision rounds the resized pixels
  // (docs/upstream.md#policy-server).
  std::vector<Tensor> frames;
  for (std::int64_t o = 0; o < steps; ++o) {
    const Tensor planar = ops::contiguous(request.images.select(0, o));
    const Tensor prepared = prepare_observation_planar(planar, h, w, ResizedPixels::RoundedToInteger);
    frames.push_back(ops::contiguous(prepared.permute({1, 2, 0})).unsqueeze(0));
  }

  // Normalised, then zero-padded to the model's width (_map_to_uni_state).
  const std::vector<float> normalised =
      io::normalize_min_max(request.states.to_floats(), stats_.at("observation.state"));
  const std::int64_t pad = c.projectors.agent_state_dim;
  std::vector<float> padded(steps * pad, 0.0f);
  for (std::int64_t o = 0; o < steps; ++o)
    for (std::int64_t d = 0; d < shapes_.state_dim; ++d) padded[o * pad + d] = normalised[o * shapes_.state_dim + d];

  PassInput in;
  in.obs_images = ops::concat(frames, 0).unsqueeze(0);
  in.obs_state = Tensor::from_floats({1, steps, pad}, padded);
  // The request's action chunk only tells its width; the pass does not read it in this layout.
  in.action = Tensor::zeros({1, shapes_.action_rows, c.projectors.agent_action_dim});
  in.prompt = request.instruction;
  in.sim_mode = false;
  in.fs = settings_.fs;
  in.context = ContextLayout::StateTextImage;
  in.decode = settings_.savedir.empty() ? VideoDecode::Skip : VideoDecode::Decode;
  return in;
}

DecisionResult DecisionPolicy::run(const PassInput& input, const std::string& video_stem, Profiler* profiler) {
  const PassOutput out = synthesizer_.run(input, *noise_, profiler);

  // pred_action[..., mask == 1], then Unnormalize (min_max) with the dataset's action stats.
  const Tensor actions = ops::to_device(out.actions, Device::CPU).select(0, 0);
  const std::int64_t rows = actions.size(0), width = actions.size(1), dim = shapes_.action_dim;
  const std::vector<float> all = actions.to_floats();
  std::vector<float> own;
  own.reserve(rows * dim);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t d = 0; d < dim; ++d) own.push_back(all[r * width + d]);

  DecisionResult result;
  result.actions = io::unnormalize_min_max(own, stats_.at("action"));
  result.rows = rows;
  result.action_dim = dim;
  if (!settings_.savedir.empty()) {
    const auto timer = Profiler::scope(profiler, "save_results");
    std::filesystem::create_directories(settings_.savedir);
    const std::string path = (std::filesystem::path(settings_.savedir) / (video_stem + ".mp4")).string();
    result.video_path = io::write_video(path, video_frames(out.video), {.fps = settings_.save_fps, .crf = 10});
  }
  return result;
}

}  // namespace wma::pipeline
