#include "models/perceiver.h"

#include <cmath>

namespace wma::models {

void PerceiverAttention::load(const nn::WeightBinder& w, std::int64_t dim, int head_dim, int n_heads) {
  heads = n_heads;
  dim_head = head_dim;
  const std::int64_t inner = std::int64_t{head_dim} * n_heads;
  norm1.load(w.child("norm1"), dim);
  norm2.load(w.child("norm2"), dim);
  to_q.load(w.child("to_q"), dim, inner, nn::HasBias::No);
  to_kv.load(w.child("to_kv"), dim, 2 * inner, nn::HasBias::No);
  to_out.load(w.child("to_out"), inner, dim, nn::HasBias::No);
}

Tensor PerceiverAttention::operator()(const Tensor& x, const Tensor& latents) const {
  const std::int64_t n = latents.size(0), l = latents.size(1);
  const std::int64_t inner = std::int64_t{heads} * dim_head;
  const Tensor xn = norm1(x);
  const Tensor ln = norm2(latents);
  const Tensor q = to_q(ln).reshape({n, l, heads, dim_head});
  // Keys/values see the inputs first, then the latents themselves.
  const Tensor kv_in = ops::concat({xn, ln}, 1);
  const std::int64_t lk = kv_in.size(1);
  const Tensor kv = to_kv(kv_in).reshape({n, lk, 2, heads, dim_head});
  // Upstream scales q and k by dim_head^-1/4 each; one 1/sqrt(dim_head) on the product is the same.
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dim_head)));
  const Tensor o = ops::attention(q, kv.select(2, 0), kv.select(2, 1), nullptr, scale);
  return to_out(ops::contiguous(o).reshape({n, l, inner}), {.residual = &latents});
}

void PerceiverFeedForward::load(const nn::WeightBinder& w, std::int64_t dim, int mult, ops::Activation activation) {
  act = activation;
  norm.load(w.child("0"), dim);
  fc1.load(w.child("1"), dim, dim * mult, nn::HasBias::No);
  fc2.load(w.child("3"), dim * mult, dim, nn::HasBias::No);
}

Tensor PerceiverFeedForward::operator()(const Tensor& x) const {
  return fc2(fc1(norm(x), {.act = act}), {.residual = &x});
}

void PerceiverStack::load(const nn::WeightBinder& w, const PerceiverStackConfig& config, std::int64_t num_latents) {
  latents_ = w.take("latents", {1, num_latents, config.dim});
  const nn::WeightBinder layers = w.child("layers");
  layers_.resize(static_cast<std::size_t>(config.depth));
  for (int i = 0; i < config.depth; ++i) {
    const nn::WeightBinder layer = layers.child(std::to_string(i));
    layers_[i].attn.load(layer.child("0"), config.dim, config.dim_head, config.heads);
    layers_[i].ff.load(layer.child("1"), config.dim, config.ff_mult, config.ff_act);
  }
  proj_out_.load(w.child("proj_out"), config.dim, config.output_dim);
  norm_out_.load(w.child("norm_out"), config.output_dim);
}

Tensor PerceiverStack::operator()(const Tensor& x) const {
  Tensor lat = ops::repeat(latents_, 0, x.size(0));  // [N, num_latents, dim]
  for (const Layer& layer : layers_) lat = layer.ff(layer.attn(x, lat));
  return norm_out_(proj_out_(lat));
}

}  // namespace wma::models
