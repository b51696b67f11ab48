// cond_stage_model: upstream's FrozenOpenCLIPEmbedder (modules/encoders/condition.py L205-273)
// with layer "penultimate": the OpenCLIP (v2.22.0) text tower without its last residual block,
// then ln_final, every one of the 77 token positions returned (no pooling, no projection).
#pragma once

#include <string>
#include <vector>

#include "models/clip_vision.h"
#include "nn/layers.h"

namespace wma::models {

// open_clip `text_cfg` (ViT-H-14.json: context_length 77, vocab_size 49408, width 1024, heads 16, layers 24).
struct ClipTextConfig {
  int context_length = 77;
  int vocab_size = 49408;
  int width = 1024;
  int heads = 16;
  int layers = 24;
  double mlp_ratio = 4.0;

  // From `cond_stage_config.params` (arch as in ClipVisionConfig::from_yaml); `layer` must be
  // "penultimate", the only one implemented (upstream's default, "last", is refused).
  static ClipTextConfig from_yaml(const io::YamlNode& params, const io::YamlNode* open_clip_configs = nullptr);
};

class ClipTextEncoder {
 public:
  // Loads the keys under `prefix` strictly. Block layers-1 (skipped by "penultimate"),
  // text_projection and logit_scale are accepted and ignored; the causal mask is built here
  // (open_clip's attn_mask is a non-persistent buffer).
  ClipTextEncoder(const io::WeightStore& store, const ClipTextConfig& config, const nn::LoadOptions& options = {},
                  const std::string& prefix = "cond_stage_model.model.");

  const ClipTextConfig& config() const { return config_; }
  // tokens i64/i32 [B, context_length] on the CPU (ClipTokenizer::tokenize) -> [B, context_length, width].
  Tensor operator()(const Tensor& tokens) const;

 private:
  ClipTextConfig config_;
  nn::LoadOptions options_;
  Tensor token_embedding_;                     // [vocab_size, width]
  Tensor positional_embedding_;                // [context_length, width]
  Tensor causal_mask_;                         // [1, L, L]: 0 on and below the diagonal, -inf above
  std::vector<OpenClipResidualBlock> blocks_;  // resblocks 0 .. layers-2
  nn::LayerNorm ln_final_;
};

}  // namespace wma::models
