#include "models/sa_token_projector.h"

namespace wma::models {

SATokenProjector::SATokenProjector(const io::WeightStore& store, const SATokenProjectorConfig& config,
                                   const nn::LoadOptions& options, const std::string& prefix)
    : config_(config) {
  // Upstream's norm_out is LayerNorm(dim) applied after proj_out, so it only runs when they agree.
  WMA_CHECK(config.output_dim == config.dim, "[SATokenProjector] output_dim ", config.output_dim, " must equal dim ",
            config.dim);
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

SATokenProjectorConfig SATokenProjectorConfig::from_yaml(const io::YamlNode& params) {
  SATokenProjectorConfig c;
  c.dim = params.get_int("dim", c.dim);
  c.depth = static_cast<int>(params.get_int("depth", c.depth));
  c.dim_head = static_cast<int>(params.get_int("dim_head", c.dim_head));
  c.heads = static_cast<int>(params.get_int("heads", c.heads));
  c.num_queries = params.get_int("num_queries", c.num_queries);
  c.output_dim = params.get_int("output_dim", c.output_dim);
  c.ff_mult = static_cast<int>(params.get_int("ff_mult", c.ff_mult));
  const io::YamlNode* chunk = params.find("chunk_size");
  c.chunk_size = chunk == nullptr || chunk->is_null() ? std::nullopt : std::optional<std::int64_t>(chunk->as_int());
  return c;
}

}  // namespace wma::models
