// model.diffusion_model as a whole: upstream's WMAModel (modules/networks/wma_model.py) = the
// video UNet (wma_unet.h) + action_token_projector (sa_token_projector.h) + action_unet and
// state_unet (conditional_unet1d.h), behind the one call the sampler makes per denoising step.
#pragma once

#include <optional>
#include <string>

#include "io/weight_store.h"
#include "io/yaml.h"
#include "models/conditional_unet1d.h"
#include "models/sa_token_projector.h"
#include "models/wma_unet.h"

namespace wma::models {

struct WMAModelConfig {
  WMAUNetConfig unet;
  SATokenProjectorConfig action_token_projector;  // stem_process_config.params
  ConditionalUnet1DConfig heads;                  // unet_head_config.params, shared by both heads

  WMAModelConfig() = default;
  // From the yaml node `model.params` and the heads' observation shapes (upstream's shape_meta).
  static WMAModelConfig from_yaml(const io::YamlNode& model_params, std::int64_t obs_image_height,
                                  std::int64_t obs_image_width, std::int64_t obs_low_dim);
};

// What one sampling call conditions on (constant over its denoising steps).
struct WMAConditioning {
  Tensor context;     // [B, L, context_dim]: [state | action | text | image] tokens (upstream's c_crossattn)
  Tensor c_concat;    // [B, T, h, w, C] conditioning latent (torch [B, C, T, h, w])
  Tensor fs;          // [B] integer frame-stride conditioning; undefined -> default_fs
  Tensor obs_images;  // [B, O, H, W, 3] in [-1, 1], older frame first (heads only)
  Tensor obs_state;   // [B, O, low_dim] (heads only)
};

// The step-invariant work of one sampling pass: per-frame context, every cross-attention's K/V
// and action mask, the fps embedding, and the heads' observation features.
struct WMAPass {
  UNetPass unet;
  Tensor c_concat;
  Tensor action_global_cond, state_global_cond;  // undefined with base_model_gen_only
};

struct WMADenoised {
  Tensor v;           // [B, T, h, w, out_channels] video v-prediction
  Tensor action_eps;  // [B, horizon, input_dim]
  Tensor state_eps;   // [B, horizon, input_dim]
};

class WMAModel {
 public:
  // Loads every key under `prefix` strictly (missing, mis-shaped and unexpected keys are all
  // reported at once). With base_model_gen_only the heads and the projector are not loaded
  // (upstream builds but never runs them) and their keys are accepted unread.
  WMAModel(const io::WeightStore& store, const WMAModelConfig& config, const nn::LoadOptions& options = {},
           const std::string& prefix = "model.diffusion_model.");

  const WMAModelConfig& config() const { return config_; }
  const WMAUNet& unet() const { return unet_; }

  // Once per sampling pass, outside the per-step arena.
  WMAPass prepare(const WMAConditioning& conditioning) const;

  // One denoiser call (upstream WMAModel.forward): x_t [B, T, h, w, C] noisy latent, action_t and
  // state_t [B, horizon, input_dim], t [B] timesteps on the model's device. With
  // base_model_gen_only the eps outputs are zeros, as upstream returns.
  WMADenoised denoise(const Tensor& x_t, const Tensor& action_t, const Tensor& state_t, const Tensor& t,
                      const WMAPass& pass) const;

 private:
  WMAModelConfig config_;
  WMAUNet unet_;
  std::optional<SATokenProjector> projector_;
  std::optional<ConditionalUnet1D> action_unet_, state_unet_;
};

}  // namespace wma::models
