// FrozenOpenCLIPEmbedder.encode_with_transformer (condition.py L246-273) over open_clip
// v2.22.0 TextTransformer weights: token + positional embedding, resblocks 0..L-2 under the
// causal mask, ln_final.
#include "models/clip_text.h"

#include <limits>

namespace wma::models {

ClipTextEncoder::ClipTextEncoder(const io::WeightStore& store, const ClipTextConfig& config,
                                 const nn::LoadOptions& options, const std::string& prefix)
    : config_(config), options_(options) {
  WMA_CHECK(config.layers >= 2 && config.width % config.heads == 0,
            "[ClipTextEncoder] need at least 2 layers and width divisible by heads, got layers ", config.layers,
            ", width ", config.width, ", heads ", config.heads);
  const nn::WeightBinder w(store, prefix, options);
  const std::int64_t width = config.width, len = config.context_length;
  token_embedding_ = w.child("token_embedding").take("weight", {config.vocab_size, width});
  positional_embedding_ = w.take("positional_embedding", {len, width});
  const auto mlp_width = static_cast<std::int64_t>(static_cast<double>(width) * config.mlp_ratio);
  const nn::WeightBinder resblocks = w.child("transformer").child("resblocks");
  blocks_.resize(static_cast<std::size_t>(config.layers - 1));
  for (int i = 0; i + 1 < config.layers; ++i)
    blocks_[i].load(resblocks.child(std::to_string(i)), width, config.heads, mlp_width);
  resblocks.ignore_subtree(std::to_string(config.layers - 1));
  ln_final_.load(w.child("ln_final"), width);
  w.ignore("text_projection");
  w.ignore("logit_scale");
  w.finish("cond_stage_model (OpenCLIP text)");

  std::vector<float> mask(static_cast<std::size_t>(len * len), 0.0f);
  for (std::int64_t i = 0; i < len; ++i)
    for (std::int64_t j = i + 1; j < len; ++j) mask[i * len + j] = -std::numeric_limits<float>::infinity();
  causal_mask_ = Tensor::from_floats({1, len, len}, mask);
  if (options.device != Device::CPU) causal_mask_ = ops::to_device(causal_mask_, options.device);
  causal_mask_ = ops::cast(causal_mask_, options.dtype);
}

Tensor ClipTextEncoder::operator()(const Tensor& tokens) const {
  const std::int64_t len = config_.context_length;
  WMA_CHECK(tokens.dim() == 2 && tokens.size(1) == len, "[ClipTextEncoder] expected tokens [B, ", len, "], got ",
            tokens.describe());
  const std::vector<std::int64_t> ids = ops::to_device(tokens, Device::CPU).to_ints();
  // The token lookup gathers rows of the table on its own device; one prompt is 77 small copies.
  std::vector<Tensor> rows;
  rows.reserve(ids.size());
  for (std::int64_t id : ids) {
    WMA_CHECK(id >= 0 && id < config_.vocab_size, "[ClipTextEncoder] token id ", id, " outside the vocabulary");
    rows.push_back(token_embedding_.slice(0, id, id + 1));
  }
  const std::int64_t batch = tokens.size(0);
  Tensor x = ops::add(ops::concat(rows, 0).reshape({batch, len, config_.width}), positional_embedding_);
  for (const auto& block : blocks_) x = block(x, &causal_mask_);
  return ln_final_(x);
}

ClipTextConfig ClipTextConfig::from_yaml(const io::YamlNode& params, const io::YamlNode* open_clip_configs) {
  const std::string layer = params.get_string("layer", "last");
  WMA_CHECK(layer == "penultimate", "[config] ", params.path(), ".layer '", layer,
            "' is not implemented (only 'penultimate', UnifoLM-WMA-0's)");
  ClipTextConfig c;  // defaults are ViT-H-14's
  const io::YamlNode* arch = open_clip_arch(params, open_clip_configs);
  if (!arch) return c;
  const io::YamlNode& t = (*arch)["text_cfg"];
  c.context_length = static_cast<int>(t.get_int("context_length", c.context_length));
  c.vocab_size = static_cast<int>(t.get_int("vocab_size", c.vocab_size));
  c.width = static_cast<int>(t.get_int("width", c.width));
  c.heads = static_cast<int>(t.get_int("heads", c.heads));
  c.layers = static_cast<int>(t.get_int("layers", c.layers));
  c.mlp_ratio = t.get_double("mlp_ratio", c.mlp_ratio);
  return c;
}

}  // namespace wma::models
