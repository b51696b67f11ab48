// model.diffusion_model.action_token_projector: upstream's SATokenProjector
// (modules/encoders/condition.py), a Perceiver without proj_in whose latents are
// num_queries * chunk_size tokens, and whose FF uses tanh-approximated GELU.
#pragma once

#include <optional>
#include <string>

#include "io/yaml.h"
#include "models/perceiver.h"

namespace wma::models {

// Fields of upstream's `stem_process_config.params`.
struct SATokenProjectorConfig {
  std::int64_t dim = 1024;
  int depth = 1;
  int dim_head = 64;
  int heads = 16;
  std::int64_t num_queries = 16;
  std::int64_t output_dim = 1024;
  int ff_mult = 4;
  std::optional<std::int64_t> chunk_size = 16;

  std::int64_t num_latents() const { return num_queries * chunk_size.value_or(1); }

  // From `stem_process_config.params` (under model.params.wma_config.params); absent keys take
  // SATokenProjector.__init__'s defaults, chunk_size absent or null is its None.
  static SATokenProjectorConfig from_yaml(const io::YamlNode& params);
};

class SATokenProjector {
 public:
  // Loads every key under `prefix` strictly (throws listing missing, mis-shaped and unexpected keys).
  SATokenProjector(const io::WeightStore& store, const SATokenProjectorConfig& config,
                   const nn::LoadOptions& options = {},
                   const std::string& prefix = "model.diffusion_model.action_token_projector.");

  const SATokenProjectorConfig& config() const { return config_; }
  // x [N, Lx, dim] (WMAModel passes one action token per row, Lx = 1) -> [N, num_latents, output_dim].
  Tensor operator()(const Tensor& x) const { return stack_(x); }

 private:
  SATokenProjectorConfig config_;
  PerceiverStack stack_;
};

}  // namespace wma::models
