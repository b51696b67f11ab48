// The video UNet of upstream's WMAModel (modules/networks/wma_model.py): time/fps embeddings,
// the per-frame context layouts, input_blocks, init_attn, middle_block, output_blocks, out, and
// the nine hs_a feature maps handed to the action/state heads. The heads and the action token
// projector are separate modules (conditional_unet1d.h, sa_token_projector.h).
#pragma once

#include <cstdint>
#include <functional>
#include <variant>
#include <vector>

#include "io/yaml.h"
#include "models/unet_blocks.h"

namespace wma::models {

// `model.params.wma_config.params` of upstream's yaml; the defaults are
// configs/inference/world_model_interaction.yaml.
struct WMAUNetConfig {
  std::int64_t in_channels = 8;
  std::int64_t out_channels = 4;
  std::int64_t model_channels = 320;
  std::vector<int> attention_resolutions = {4, 2, 1};
  int num_res_blocks = 2;
  std::vector<int> channel_mult = {1, 2, 4, 4};
  int num_heads = -1;          // used when num_head_channels == -1
  int num_head_channels = 64;  // heads = channels / num_head_channels
  int transformer_depth = 1;
  std::int64_t context_dim = 1024;
  bool use_linear = true;
  bool temporal_conv = true;
  bool temporal_attention = true;
  bool addition_attention = true;  // init_attn after input block 0
  bool image_cross_attention = true;
  bool fs_condition = true;
  int default_fs = 10;
  int temporal_length = 16;
  int n_obs_steps = 2;
  int num_stem_token = 16;
  bool base_model_gen_only = false;
  // Upstream options implemented only at the value every released config uses; other values
  // are refused by WMAUNet's constructor rather than silently computed differently.
  bool conv_resample = true;
  bool use_scale_shift_norm = false;
  bool resblock_updown = false;
  bool tempspatial_aware = false;
  bool use_relative_position = false;
  bool use_causal_attention = false;
  bool temporal_selfatt_only = true;
  bool cross_attention_scale_learnable = false;

  WMAUNetConfig() = default;
  // From the yaml node `model.params` (fields under wma_config.params, upstream's defaults for
  // absent keys).
  static WMAUNetConfig from_yaml(const io::YamlNode& model_params);
};

// Maps action tokens [B*16, 1, context_dim] to [B*16, P, context_dim] (SATokenProjector).
using ActionTokenProjector = std::function<Tensor(const Tensor&)>;

// Everything a denoising step needs that does not depend on x or t, computed once per
// sampling pass. Must be built outside the per-step arena.
struct UNetPass {
  std::int64_t batch = 0, frames = 0, height = 0, width = 0;  // latent video size
  Tensor fps_emb;  // fps_embedding(fs) [B, time_embed_dim], or undefined without fs_condition
  // Per SpatialTransformer in execution order: one cache per transformer block.
  std::vector<std::vector<CrossAttentionCache>> cross_attention;
};

struct UNetOutput {
  Tensor v;                  // [B, T, h, w, out_channels] f32 (v-prediction; torch [B, C, T, h, w])
  std::vector<Tensor> hs_a;  // [B, T, h_i, w_i, C_i] (torch [B, T, C, h, w]), 9 at the released config
};

class WMAUNet {
 public:
  explicit WMAUNet(WMAUNetConfig config);

  // `w` binds at the WMAModel prefix (`model.diffusion_model.`); the heads and the token
  // projector under the same prefix are bound by their own modules.
  void load(const nn::WeightBinder& w);

  const WMAUNetConfig& config() const { return config_; }
  std::int64_t time_embed_dim() const { return 4 * config_.model_channels; }

  // Upstream's context re-layout (forward L723-774): the raw context [B, L, context_dim] becomes
  // the per-frame context [B*T, Lc, context_dim]. L = n + 77 + 16T gives [state | text | image_f];
  // L = n + 16 + 77 + 16T gives [state | projected action_f | text | image_f]; any other L (and
  // base_model_gen_only) is used as given. `project` is only called in the second layout.
  Tensor frame_context(const Tensor& context, std::int64_t frames, const ActionTokenProjector& project) const;

  // fs [B] (integer frame-stride conditioning; undefined -> default_fs), the per-frame context
  // and the latent video size give the step-invariant state of one sampling pass.
  UNetPass prepare(const Tensor& frame_context, const Tensor& fs, std::int64_t batch, std::int64_t frames,
                   std::int64_t height, std::int64_t width) const;

  // x [B, T, h, w, in_channels] (noisy latent channels then the conditioning latent), t [B].
  UNetOutput forward(const Tensor& x, const Tensor& t, const UNetPass& pass) const;

 private:
  struct AttentionLayer {
    SpatialTransformer transformer;
    std::int64_t ds = 1;  // downsampling factor of its resolution
  };
  struct TemporalLayer {
    TemporalTransformer transformer;
  };
  using Layer = std::variant<nn::Conv2d, ResBlock, AttentionLayer, TemporalLayer, Downsample, Upsample>;
  using Block = std::vector<Layer>;

  struct Embedding {  // Linear -> SiLU -> Linear at keys .0 / .2
    nn::Linear first, second;
  };

  // Walks the blocks in execution order (input, middle, output).
  template <typename F>
  void for_each_attention(F&& f) const;
  Tensor run_block(const Block& block, Tensor h, const Tensor& emb_silu, const UNetPass& pass,
                   std::size_t& attention_slot) const;
  int heads_for(std::int64_t channels) const;
  int dim_head_for(std::int64_t channels) const;

  WMAUNetConfig config_;
  DType dtype_ = DType::F32;
  Embedding time_embed_, fps_embed_;
  std::vector<Block> input_blocks_;
  TemporalTransformer init_attn_;
  Block middle_block_;
  std::vector<Block> output_blocks_;
  nn::GroupNorm out_norm_;
  nn::Conv2d out_conv_;
};

}  // namespace wma::models
