// The whole LatentVisualDiffusion of upstream (src/unifolm_wma/models/ddpms.py) as the interaction script
// builds it from its yaml (scripts/evaluation/world_model_interaction.py L434-470): VAE, OpenCLIP text and
// image towers, Resampler, state/action projectors, model.diffusion_model, and the schedule buffers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "io/json.h"
#include "io/weight_store.h"
#include "io/yaml.h"
#include "models/clip_text.h"
#include "models/clip_tokenizer.h"
#include "models/clip_vision.h"
#include "models/projectors.h"
#include "models/resampler.h"
#include "models/vae.h"
#include "models/wma_model.h"
#include "sampling/diffusers_ddim.h"
#include "sampling/schedule.h"

namespace wma::pipeline {

struct WorldModelConfig {
  std::string source;  // the yaml path (or preset name), for messages
  models::AutoencoderKLConfig vae;
  models::ClipTextConfig text;
  models::ClipVisionConfig vision;
  models::ResamplerConfig resampler;
  models::AgentProjectorsConfig projectors;
  models::WMAModelConfig wma;
  sampling::VideoScheduleConfig schedule;
  sampling::DiffusersDdimConfig head_scheduler;
  std::int64_t latent_channels = 4;                    // model.params.channels
  std::int64_t latent_height = 40, latent_width = 64;  // model.params.image_size
  std::int64_t n_obs_steps_imagen = 2, n_obs_steps_acting = 2;
  std::int64_t obs_image_height = 320, obs_image_width = 512;  // the heads' shape_meta
  bool perframe_ae = true;
  // mt19937 outputs upstream's model construction takes from torch's CPU generator after seed_everything
  // (models::upstream_construction_draws): where its VAE posterior noise starts.
  std::uint64_t construction_cpu_draws = 0;

  std::int64_t video_height() const { return latent_height * vae_downscale(); }
  std::int64_t video_width() const { return latent_width * vae_downscale(); }
  std::int64_t vae_downscale() const { return std::int64_t{1} << (vae.ch_mult.size() - 1); }

  // `root` is the whole yaml document; `shape_meta` the heads' observation shapes (upstream reads the file
  // named by obs_encoder_config.params.shape_meta_path).
  static WorldModelConfig from_yaml(const io::YamlNode& root, const io::json::Value& shape_meta,
                                    const std::string& source);
  // Loads the yaml at `path` and finds its shape_meta file: absolute, relative to the working directory (as
  // upstream opens it), or relative to the yaml's folder or any folder above it.
  static WorldModelConfig load(const std::string& path);
};

// Every module, loaded strictly from one store (a checkpoint, or deterministic weights).
struct WorldModel {
  WorldModelConfig config;
  nn::LoadOptions options;
  models::AutoencoderKL vae;
  models::ClipTextEncoder text_encoder;
  models::ClipImageEmbedder image_embedder;
  models::Resampler image_proj;
  models::AgentProjectors projectors;
  models::WMAModel diffusion;
  sampling::VideoSchedule schedule;

  // Throws one Error per module listing its missing, mis-shaped and unexpected keys, prefixed with which
  // config and checkpoint did not match.
  WorldModel(const io::WeightStore& store, const WorldModelConfig& config, const nn::LoadOptions& options = {});
};

// A store of deterministic weights (models/deterministic_weights.h) with exactly the keys `config` reads;
// schedule buffers are left out, so upstream's computed values are used.
io::WeightStore deterministic_world_model_store(const WorldModelConfig& config);

}  // namespace wma::pipeline
