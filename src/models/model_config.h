// Every model configuration of UnifoLM-WMA-0 from one upstream inference yaml
// (configs/inference/*.yaml, LatentVisualDiffusion's `model.params`): the modules' own
// from_yaml functions applied at the places upstream's instantiate_from_config reads them.
#pragma once

#include <cstdint>

#include "io/json.h"
#include "io/yaml.h"
#include "models/clip_text.h"
#include "models/clip_vision.h"
#include "models/projectors.h"
#include "models/resampler.h"
#include "models/vae.h"
#include "models/wma_model.h"

namespace wma::models {

// The heads' observation shapes (upstream's shape_meta json, which the yaml names by a path
// relative to the working directory). Defaults are configs/train/meta.json's.
struct ObsShapeMeta {
  std::int64_t image_height = 320;
  std::int64_t image_width = 512;
  std::int64_t agent_pos_dim = 16;

  // obs.image.shape [C, H, W] and obs.agent_pos.shape [D].
  static ObsShapeMeta from_json(const io::json::Value& shape_meta);
};

struct WmaConfig {
  AutoencoderKLConfig vae;           // first_stage_config.params (+ model.params.scale_factor)
  ClipTextConfig text;               // cond_stage_config.params
  ClipVisionConfig vision;           // img_cond_stage_config.params
  ResamplerConfig resampler;         // image_proj_stage_config.params
  AgentProjectorsConfig projectors;  // model.params
  WMAModelConfig diffusion;          // wma_config.params (UNet, stem_process_config, unet_head_config)

  // `root` is the whole yaml document; custom open_clip towers come from its top-level
  // `open_clip_model_configs`.
  static WmaConfig from_yaml(const io::YamlNode& root, const ObsShapeMeta& obs = {});
};

}  // namespace wma::models
