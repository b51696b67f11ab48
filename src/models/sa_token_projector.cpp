#include "models/sa_token_projector.h"

namespace wma::models {

SATokenProjector::SATokenProjector(const io::WeightStore& store, const SATokenProjectorConfig& config,
                                   const nn::LoadOptions& options, const std::string& prefix)
    : config_(config) {
  // Upstream's norm_out is LayerNorm(dim) applied after proj_out, so it only runs when they agree.
  WMA_CHECK(config.output_dim == config.dim, "[SATokenProjector] output_dim ", config.output_dim,
            " must equal dim ", config.dim);
  const nn::WeightBinder w(store, prefix, options);
  stack_.load(w,
              {.dim = config.dim,
               .output_dim = config.output_dim,
               .depth = config.depth,
               .dim_head = config.dim_head,
               .heads = config.heads,
               .ff_mult = config.ff_mult,
               .ff_act = ops::Activation::GELUTanh},
              config.num_latents());
  w.finish("SATokenProjector");
}

}  // namespace wma::models
