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

}  // namespace wma::models
