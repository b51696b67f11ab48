// image_proj_model: upstream's Resampler (modules/encoders/resampler.py), the Perceiver that
// turns the CLIP vision tokens into `num_queries` tokens per frame (num_queries * video_length
// latents in all; frame f owns latents [f * num_queries, (f + 1) * num_queries)).
#pragma once

#include <optional>
#include <string>

#include "io/yaml.h"
#include "models/perceiver.h"

namespace wma::models {

// Fields of upstream's `image_proj_stage_config.params`.
struct ResamplerConfig {
  std::int64_t dim = 1024;
  int depth = 4;
  int dim_head = 64;
  int heads = 12;
  std::int64_t num_queries = 16;
  std::int64_t embedding_dim = 1280;
  std::int64_t output_dim = 1024;
  int ff_mult = 4;
  std::optional<std::int64_t> video_length = 16;  // none: one image's worth of queries

  std::int64_t num_latents() const { return num_queries * video_length.value_or(1); }

  // From `image_proj_stage_config.params`; video_length absent or null is upstream's None.
  static ResamplerConfig from_yaml(const io::YamlNode& params);
};

class Resampler {
 public:
  // Loads every key under `prefix` strictly (throws listing missing, mis-shaped and unexpected keys).
  Resampler(const io::WeightStore& store, const ResamplerConfig& config, const nn::LoadOptions& options = {},
            const std::string& prefix = "image_proj_model.");

  const ResamplerConfig& config() const { return config_; }
  // x [N, Lx, embedding_dim] (CLIP tokens) -> [N, num_latents, output_dim].
  Tensor operator()(const Tensor& x) const;

 private:
  ResamplerConfig config_;
  nn::Linear proj_in_;  // [dim, embedding_dim]
  PerceiverStack stack_;
};

}  // namespace wma::models
