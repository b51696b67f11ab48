// One sampling pass of the interaction loop: upstream's image_guided_synthesis_sim_mode
// (scripts/evaluation/world_model_interaction.py L315-431) with DDIMSampler.sample / ddim_sampling /
// p_sample_ddim (models/samplers/ddim.py) and decode_first_stage (models/ddpms.py): conditioning, N joint
// denoising steps over video, actions and states, VAE decode.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "models/clip_tokenizer.h"
#include "ops/params.h"
#include "pipeline/noise.h"
#include "pipeline/profile.h"
#include "pipeline/video_decoder.h"
#include "pipeline/world_model.h"
#include "sampling/ddim.h"
#include "sampling/diffusers_ddim.h"
#include "sampling/multistep.h"
#include "sampling/sampler.h"

namespace wma::pipeline {

struct PassOptions {
  sampling::SamplerKind sampler = sampling::SamplerKind::Ddim;
  int ddim_steps = 50;    // denoiser calls per pass, whatever the sampler
  double ddim_eta = 1.0;  // ddim only: the others are ODE solvers (docs/sampling.md)
  sampling::TimestepSpacing timestep_spacing = sampling::TimestepSpacing::UniformTrailing;
  int video_length = 16;
  // Upstream passes no unconditional conditioning, so classifier-free guidance and its rescale never run
  // whatever these are (docs/upstream.md#guidance-never-runs); they are kept to report them.
  double unconditional_guidance_scale = 1.0;
  double guidance_rescale = 0.0;
};

// Which tokens the cross-attention context holds (docs/upstream.md#context-layouts): the interaction script's
// [state | action | text | image], or the decision-only server's [state | text | image] (upstream's
// real_eval_server.py computes the action embedding and leaves it out).
enum class ContextLayout { StateActionTextImage, StateTextImage };
// The server needs only the actions, so it may skip the VAE decode (upstream decodes to save the video).
enum class VideoDecode { Decode, Skip };

// Observation of one pass, channels-last, on any device, and what the pass computes from it.
struct PassInput {
  Tensor obs_images;     // [1, O, H, W, 3] in [-1, 1], older frame first
  Tensor obs_state;      // [1, O, agent_state_dim], normalised
  Tensor action;         // [1, video_length, agent_action_dim], normalised
  std::string prompt;    // the instruction, or "" (upstream's text_input=False)
  bool sim_mode = true;  // false: the policy pass (action embedding zeroed)
  std::int64_t fs = 7;   // frame-stride conditioning value
  ContextLayout context = ContextLayout::StateActionTextImage;
  VideoDecode decode = VideoDecode::Decode;
};

// The conditioning's parts before they are joined into the context (for per-module parity dumps).
struct ConditionParts {
  Tensor text, image_tokens, state_emb, action_emb;
  Tensor z;  // VAE latents of the observation frames [1, O, h, w, C]
};

struct PassOutput {
  Tensor latent;   // [1, T, h, w, C] final latent (not divided by the last rescale factor, as upstream)
  Tensor video;    // [1, T, H, W, 3] raw decoder output; undefined with VideoDecode::Skip
  Tensor actions;  // [1, T, agent_action_dim], normalised
  Tensor states;   // [1, T, agent_state_dim], normalised
};

class Synthesizer {
 public:
  Synthesizer(const WorldModel& model, const models::ClipTokenizer& tokenizer, const PassOptions& options);

  // `on_step` (optional) runs after every denoising step, e.g. to advance a progress bar.
  PassOutput run(const PassInput& input, NoiseSource& noise, Profiler* profiler = nullptr,
                 const std::function<void()>& on_step = {});

  // The stages of run(), public for tests.
  models::WMAConditioning condition(const PassInput& input, NoiseSource& noise, ConditionParts* parts = nullptr);
  PassOutput sample(const models::WMAPass& pass, NoiseSource& noise, const std::function<void()>& on_step);
  Tensor decode(const Tensor& latent);

  // The timesteps of every sampler (trailing or uniform, as upstream's DDIM spaces them).
  const sampling::DdimSchedule& ddim() const { return ddim_; }
  const PassOptions& options() const { return options_; }
  const WorldModel& model() const { return model_; }
  // Whether condition() on these frames (on the host) reuses the last pass's CLIP tokens and VAE posterior.
  bool reuses_observation(const Tensor& obs_images) const;

 private:
  Tensor text_embedding(const std::string& prompt);
  Tensor on_device(const Tensor& host) const;

  // The CLIP tokens and VAE posterior of the last observation: the policy and world-model passes of an iteration
  // see the same frames, so the second runs neither encoder (its posterior draws are still its own).
  struct ObservationEncoding {
    Tensor host_images;  // a copy of the pass's obs_images: the key, compared bit for bit
    Tensor image_tokens;
    models::DiagonalGaussian posterior;
  };
  ObservationEncoding encode_observation(const Tensor& obs_images, const Tensor& images);

  const WorldModel& model_;
  const models::ClipTokenizer& tokenizer_;
  PassOptions options_;
  sampling::DdimSchedule ddim_;
  sampling::DiffusersDdimScheduler head_scheduler_;
  sampling::MultistepSchedule multistep_;     // empty for ddim
  std::map<std::string, Tensor> text_cache_;  // the prompts repeat every iteration
  std::optional<ObservationEncoding> observation_;
  VideoDecoder decoder_;
};

}  // namespace wma::pipeline
