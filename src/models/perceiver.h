// The Perceiver layer shared by upstream's Resampler (modules/encoders/resampler.py) and
// SATokenProjector (modules/encoders/condition.py): PerceiverAttention + FeedForward, stacked
// under `layers.{i}.0` and `layers.{i}.1`. The two upstream copies differ only in the FF GELU.
#pragma once

#include <vector>

#include "nn/layers.h"

namespace wma::models {

// Latents attend to concat(inputs, latents); keys `norm1`, `norm2`, `to_q`, `to_kv`, `to_out`.
struct PerceiverAttention {
  nn::LayerNorm norm1;  // on the inputs
  nn::LayerNorm norm2;  // on the latents
  nn::Linear to_q;      // [inner, dim], no bias
  nn::Linear to_kv;     // [2 * inner, dim], no bias; k is the first half
  nn::Linear to_out;    // [dim, inner], no bias
  int heads = 8;
  int dim_head = 64;

  void load(const nn::WeightBinder& w, std::int64_t dim, int dim_head, int heads);
  // x [N, Lx, dim], latents [N, L, dim] -> latents + attention(x, latents): [N, L, dim].
  Tensor operator()(const Tensor& x, const Tensor& latents) const;
};

// nn.Sequential(LayerNorm, Linear(no bias), GELU, Linear(no bias)) at keys `0`, `1`, `3`.
struct PerceiverFeedForward {
  nn::LayerNorm norm;
  nn::Linear fc1;  // [mult * dim, dim]
  nn::Linear fc2;  // [dim, mult * dim]
  ops::Activation act = ops::Activation::GELU;

  void load(const nn::WeightBinder& w, std::int64_t dim, int mult, ops::Activation act);
  // x [N, L, dim] -> x + ff(x).
  Tensor operator()(const Tensor& x) const;
};

struct PerceiverStackConfig {
  std::int64_t dim = 1024;
  std::int64_t output_dim = 1024;
  int depth = 1;
  int dim_head = 64;
  int heads = 16;
  int ff_mult = 4;
  ops::Activation ff_act = ops::Activation::GELU;
};

// The common trunk of both upstream modules: the learned `latents` [1, num_latents, dim],
// `layers.{0..depth-1}`, then `proj_out` Linear(dim, output_dim) and `norm_out` LayerNorm.
class PerceiverStack {
 public:
  void load(const nn::WeightBinder& w, const PerceiverStackConfig& config, std::int64_t num_latents);
  // x [N, Lx, dim] (already projected to dim) -> norm_out(proj_out(latents)) [N, num_latents, output_dim].
  Tensor operator()(const Tensor& x) const;

 private:
  struct Layer {
    PerceiverAttention attn;
    PerceiverFeedForward ff;
  };
  Tensor latents_;  // [1, num_latents, dim]
  std::vector<Layer> layers_;
  nn::Linear proj_out_;
  nn::LayerNorm norm_out_;
};

}  // namespace wma::models
