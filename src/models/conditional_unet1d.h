// action_unet / state_unet: upstream's ConditionalUnet1D (models/diffusion_head/conditional_unet1d.py
// L220-701) as UnifoLM-WMA-0 configures it: use_linear_act_proj, cond_predict_scale, no cross
// attention, FiLM conditioning on [step embedding, observation features, UNet keypoints].
#pragma once

#include <array>
#include <string>
#include <vector>

#include "io/yaml.h"
#include "models/obs_encoder.h"
#include "nn/layers.h"

namespace wma::models {

struct ConditionalUnet1DConfig {
  std::int64_t input_dim = 16;  // action / state dims (Conv1d channels at the input)
  std::int64_t n_obs_steps = 2;
  std::int64_t step_embed_dim = 128;  // diffusion_step_embed_dim
  std::vector<std::int64_t> down_dims{256, 512, 1024, 2048};
  int kernel_size = 5;
  int n_groups = 8;
  std::int64_t horizon = 16;                                     // T: rows of the sample, frames of hs_a
  std::int64_t act_proj_dim = 32;                                // Conv1d length
  std::vector<std::int64_t> context_dims{320, 640, 1280, 1280};  // WMAModel channel_mult * model_channels
  std::int64_t image_height = 40;                                // latent size of hs_a[0]
  std::int64_t image_width = 64;
  ObsEncoderConfig obs;

  std::int64_t global_cond_dim() const { return n_obs_steps * obs.feature_dim(); }

  // From the yaml node `model.params` (head under wma_config.params.unet_head_config, context
  // dims from WMAModel's channel_mult * model_channels) and the obs shape meta (image size and
  // agent_pos dim, upstream's shape_meta json). Refuses head options this engine does not
  // implement (cross attention, imagen-mid-only, z-only, last-frame-only, no linear act proj).
  static ConditionalUnet1DConfig from_yaml(const io::YamlNode& model_params, std::int64_t obs_image_height,
                                           std::int64_t obs_image_width, std::int64_t obs_low_dim);
};

class ConditionalUnet1D {
 public:
  // Loads the keys under `prefix` strictly. proj_in_horizon, proj_out_horizon and
  // obs_encoder._dummy_variable are ignored (unused upstream); spatial_softmax_blocks 4..8 are
  // the same modules as 3, 3, 2, 1, 0 upstream: their copies must exist but are not loaded.
  ConditionalUnet1D(const io::WeightStore& store, const ConditionalUnet1DConfig& config,
                    const nn::LoadOptions& options = {},
                    const std::string& prefix = "model.diffusion_model.action_unet.");

  const ConditionalUnet1DConfig& config() const { return config_; }

  // Step-invariant part, once per sampling pass: images [B, O, H, W, 3] in [-1, 1] (older frame
  // first), agent_pos [B, O, low_dim] -> global_cond [B, horizon, O * (2 * num_kp + low_dim)].
  Tensor encode_observation(const Tensor& images, const Tensor& agent_pos) const;

  // One denoiser call: sample [B, horizon, input_dim], timesteps [B] or [1], hs_a the 9 UNet
  // features [B, horizon, h_k, w_k, C_k] (down 0..3, mid, up 0..3), global_cond from
  // encode_observation -> eps [B, horizon, input_dim].
  Tensor operator()(const Tensor& sample, const Tensor& timesteps, const std::vector<Tensor>& hs_a,
                    const Tensor& global_cond) const;

 private:
  // Conv1d(k, pad k/2) -> GroupNorm(n_groups) -> Mish; x [N, L, C].
  struct Conv1dBlock {
    nn::Conv1d conv;
    nn::GroupNorm norm;
    void load(const nn::WeightBinder& w, std::int64_t in, std::int64_t out, int kernel, int groups);
    // Conv1d -> GroupNorm -> Mish, then the FiLM `film` [rows, 2, C] (scale, shift) when given: one norm kernel.
    Tensor operator()(const Tensor& x, const Tensor* film = nullptr) const;
  };
  // ConditionalResidualBlock1D with FiLM: scale * h + bias.
  struct ResBlock {
    Conv1dBlock block0, block1;
    nn::Linear cond_encoder;  // `cond_encoder.1`, after a Mish
    nn::Conv1d residual_conv;
    bool has_residual = false;
    std::int64_t out_channels = 0;
    void load(const nn::WeightBinder& w, std::int64_t in, std::int64_t out, std::int64_t cond_dim, int kernel,
              int groups);
    // x [B*T, L, Cin], mish_cond = Mish(cond) [B, T, Dc] -> [B*T, L, Cout].
    Tensor operator()(const Tensor& x, const Tensor& mish_cond) const;
  };
  struct Level {
    ResBlock res0, res1;
    nn::Conv1d downsample;         // down levels 0..2: `.3.conv`
    nn::ConvTranspose1d upsample;  // up levels 0..2: `.3.conv`
    bool resample = false;
  };

  // Mish([step_emb, global_cond, keypoints of hs_a[index]]) -> [B, T, Dc].
  Tensor level_condition(const Tensor& step_emb, const Tensor& global_cond, const Tensor& feature, int index) const;

  ConditionalUnet1DConfig config_;
  ObsEncoder obs_encoder_;
  nn::Linear step_fc1_, step_fc2_;                 // diffusion_step_encoder.1 / .3
  std::array<SpatialSoftmax, 4> spatial_softmax_;  // distinct modules; hs_a index i uses kSpatialBlock[i]
  std::vector<Level> down_, up_;
  ResBlock mid0_, mid1_;
  Conv1dBlock final_block_;
  nn::Conv1d final_proj_;
  nn::Linear proj_in_;  // proj_in_action.0: Linear(1, act_proj_dim)
  nn::LayerNorm proj_in_norm_, proj_out_norm_;
  nn::Linear proj_out_;  // proj_out_action.1: Linear(act_proj_dim, 1)
};

}  // namespace wma::models
