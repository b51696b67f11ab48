#include "models/resampler.h"

namespace wma::models {

Resampler::Resampler(const io::WeightStore& store, const ResamplerConfig& config, const nn::LoadOptions& options,
                     const std::string& prefix)
    : config_(config) {
  const nn::WeightBinder w(store, prefix, options);
  proj_in_.load(w.child("proj_in"), config.embedding_dim, config.dim);
  stack_.load(w,
              {.dim = config.dim,
               .output_dim = config.output_dim,
               .depth = config.depth,
               .dim_head = config.dim_head,
               .heads = config.heads,
               .ff_mult = config.ff_mult,
               .ff_act = ops::Activation::GELU},
              config.num_latents());
  w.finish("Resampler");
}

Tensor Resampler::operator()(const Tensor& x) const {
  // proj_in runs once: every layer attends to the same projected tokens.
  return stack_(proj_in_(x));
}

ResamplerConfig ResamplerConfig::from_yaml(const io::YamlNode& params) {
  ResamplerConfig c;
  c.dim = params["dim"].as_int();
  c.depth = static_cast<int>(params["depth"].as_int());
  c.dim_head = static_cast<int>(params["dim_head"].as_int());
  c.heads = static_cast<int>(params["heads"].as_int());
  c.num_queries = params["num_queries"].as_int();
  c.embedding_dim = params["embedding_dim"].as_int();
  c.output_dim = params["output_dim"].as_int();
  c.ff_mult = static_cast<int>(params["ff_mult"].as_int());
  const io::YamlNode* length = params.find("video_length");
  c.video_length =
      length == nullptr || length->is_null() ? std::nullopt : std::optional<std::int64_t>(length->as_int());
  return c;
}

}  // namespace wma::models
