// embedder: the OpenCLIP (v2.22.0) ViT vision tower as upstream's FrozenOpenCLIPImageEmbedderV2
// (modules/encoders/condition.py) runs it: kornia antialiased bicubic resize of a [-1, 1] image,
// CLIP mean/std, then every token of the last residual block (no ln_post, no proj).
#pragma once

#include <string>
#include <vector>

#include "io/yaml.h"
#include "nn/layers.h"

namespace wma::models {

// open_clip `vision_cfg` (ViT-H-14.json: image_size 224, layers 32, width 1280, head_width 80, patch_size 14).
struct ClipVisionConfig {
  int image_size = 224;
  int patch_size = 14;
  int width = 1280;
  int layers = 32;
  int heads = 16;  // width / head_width
  double mlp_ratio = 4.0;

  int grid() const { return image_size / patch_size; }
  std::int64_t tokens() const { return std::int64_t{grid()} * grid() + 1; }

  // From `img_cond_stage_config.params`: `arch` (ViT-H-14 when absent, as upstream) names the tower,
  // whose vision_cfg comes from `open_clip_configs` (the yaml's `open_clip_model_configs`, or null).
  static ClipVisionConfig from_yaml(const io::YamlNode& params, const io::YamlNode* open_clip_configs = nullptr);
};

// The open_clip model config `params.arch` names: the entry of `open_clip_configs` (how the test
// configs describe smaller towers), or null for the built-in ViT-H-14 (the config defaults);
// any other arch is refused.
const io::YamlNode* open_clip_arch(const io::YamlNode& params, const io::YamlNode* open_clip_configs);

// open_clip ResidualAttentionBlock (nn.MultiheadAttention, GELU MLP, no LayerScale):
// x + out_proj(MHA(ln_1(x))), then x + c_proj(GELU(c_fc(ln_2(x)))).
struct OpenClipResidualBlock {
  nn::LayerNorm ln_1, ln_2;
  nn::Linear in_proj;   // `attn.in_proj_weight` [3 * width, width] (rows q | k | v), `attn.in_proj_bias`
  nn::Linear out_proj;  // `attn.out_proj`
  nn::Linear c_fc;      // `mlp.c_fc` [mlp_width, width]
  nn::Linear c_proj;    // `mlp.c_proj` [width, mlp_width]
  int heads = 1;

  void load(const nn::WeightBinder& w, std::int64_t width, int heads, std::int64_t mlp_width);
  // x [N, L, width]; mask: null or an additive [1, L, L] bias -> [N, L, width].
  Tensor operator()(const Tensor& x, const Tensor* mask = nullptr) const;
};

// kornia.geometry.resize(x, (size, size), 'bicubic', align_corners=True, antialias=True) of a
// [-1, 1] image, mapped to [0, 1] and normalised by CLIP's mean/std. Runs on the host:
// image [N, H, W, 3] (any device, float) -> f32 CPU [N, size, size, 3].
Tensor clip_preprocess(const Tensor& image, int size);

class ClipImageEmbedder {
 public:
  // Loads the `visual.*` keys under `prefix` strictly; the tower's unused parts (ln_post, proj) and
  // the text leftovers upstream keeps in the checkpoint are accepted and ignored.
  ClipImageEmbedder(const io::WeightStore& store, const ClipVisionConfig& config, const nn::LoadOptions& options = {},
                    const std::string& prefix = "embedder.model.");

  const ClipVisionConfig& config() const { return config_; }
  // image [N, H, W, 3] in [-1, 1] -> tokens [N, grid^2 + 1, width] (class token first).
  Tensor operator()(const Tensor& image) const;
  // The tower alone: x [N, image_size, image_size, 3] already preprocessed.
  Tensor encode_preprocessed(const Tensor& x) const;

 private:
  ClipVisionConfig config_;
  nn::LoadOptions options_;
  nn::Conv2d conv1_;             // [width, patch, patch, 3] (OHWI), no bias
  Tensor class_embedding_;       // [width]
  Tensor positional_embedding_;  // [grid^2 + 1, width]
  nn::LayerNorm ln_pre_;
  std::vector<OpenClipResidualBlock> blocks_;
};

}  // namespace wma::models
