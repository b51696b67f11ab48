// Building blocks of upstream's WMAModel video UNet (wma_model.py ResBlock/TemporalConvBlock/
// Downsample/Upsample; attention.py SpatialTransformer/TemporalTransformer/CrossAttention).
// Written against ops/nn only, so every backend runs the same code.
#include "models/unet_blocks.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace wma::models {
namespace {

constexpr float kResNormEps = 1e-5f;          // normalization() and TemporalConvBlock's GroupNorms
constexpr float kTransformerNormEps = 1e-6f;  // Spatial/TemporalTransformer GroupNorm
constexpr int kGroups = 32;
// upstream's _get_attn_mask_aa: block_size=16 is a literal, independent of the video length.
constexpr std::int64_t kActionMaskBlock = 16;

// [N, L, heads*dim_head] -> [N, L, heads, dim_head] (a view).
Tensor split_heads(const Tensor& x, int heads, int dim_head) {
  return x.reshape({x.size(0), x.size(1), heads, dim_head});
}

Tensor merge_heads(const Tensor& x) { return x.reshape({x.size(0), x.size(1), x.size(2) * x.size(3)}); }

float attention_scale(int dim_head) { return 1.0f / std::sqrt(static_cast<float>(dim_head)); }

// Additive bias of upstream's action branch: batch row r belongs to frame r mod 16, which sees
// the first (frame + 1) * (La / 16) action keys; the rest get -inf. Same for every query, so it is
// one [rows, 1, keys] row per batch row broadcast over the queries (a dense [rows, Lq, keys] mask was
// 21 MB at L0, read per score). Built in the activations' dtype and device (the attention op takes the
// mask like q).
Tensor action_mask(std::int64_t rows, std::int64_t query_len, std::int64_t keys, const Tensor& like) {
  const std::int64_t per_frame = keys / kActionMaskBlock;
  std::vector<float> bias(static_cast<std::size_t>(rows * keys), 0.0f);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = (r % kActionMaskBlock + 1) * per_frame; j < keys; ++j)
      bias[static_cast<std::size_t>(r * keys + j)] = -std::numeric_limits<float>::infinity();
  Tensor mask = ops::cast(Tensor::from_floats({rows, 1, keys}, bias), like.dtype());
  if (like.device() != Device::CPU) mask = ops::to_device(mask, like.device());
  return mask.expand({rows, query_len, keys});
}

}  // namespace

// ---- PointwiseProjection ----------------------------------------------------------------

void PointwiseProjection::load(const nn::WeightBinder& w, std::int64_t in, std::int64_t out, Form form) {
  switch (form) {
    case Form::Linear: linear.load(w, in, out); return;
    case Form::Conv1d: linear.weight = w.take("weight", {out, in, 1}).reshape({out, in}); break;
    case Form::Conv2d: linear.weight = w.take("weight", {out, in, 1, 1}).reshape({out, in}); break;
  }
  linear.bias = w.take("bias", {out});
}

// ---- TemporalConvBlock -------------------------------------------------------------------

void TemporalConvBlock::load(const nn::WeightBinder& w, std::int64_t channels) {
  for (int i = 0; i < 4; ++i) {
    const nn::WeightBinder stage = w.child("conv" + std::to_string(i + 1));
    norms_[i].load(stage.child("0"), kGroups, channels, kResNormEps);
    // conv1 is Sequential(GN, SiLU, Conv3d); conv2..4 have a Dropout before the conv.
    convs_[i].load(stage.child(i == 0 ? "2" : "3"), channels, channels, 3, 1);
    conv_bias_rows_[i] = convs_[i].bias.reshape({1, channels});
  }
}

Tensor TemporalConvBlock::operator()(const Tensor& x, std::int64_t batch) const {
  const std::int64_t frames = x.size(0) / batch, pixels = x.size(1) * x.size(2), channels = x.size(3);
  const Tensor x_in = x.reshape({batch, frames, pixels, channels});
  // Each conv's output goes out without its bias, which the next norm adds as it reads; the last conv
  // adds its bias and the block's residual in its own epilogue.
  Tensor h = x;
  for (int i = 0; i < 4; ++i) {
    Tensor n = norms_[i](h.reshape({batch, frames * pixels, channels}), ops::Activation::SiLU,
                         i == 0 ? nullptr : &conv_bias_rows_[i - 1]);
    const Tensor* bias = i == 3 ? &convs_[i].bias : nullptr;
    h = ops::conv_temporal(n.reshape({batch, frames, pixels, channels}), convs_[i].weight, bias, convs_[i].padding,
                           i == 3 ? &x_in : nullptr);
  }
  return h.reshape(x.shape());
}

// ---- ResBlock ----------------------------------------------------------------------------

void ResBlock::load(const nn::WeightBinder& w, std::int64_t in_channels, std::int64_t out_channels,
                    std::int64_t emb_channels, bool temporal_conv) {
  out_channels_ = out_channels;
  in_norm_.load(w.child("in_layers").child("0"), kGroups, in_channels, kResNormEps);
  in_conv_.load(w.child("in_layers").child("2"), in_channels, out_channels, 3, {1, 1});
  emb_proj_.load(w.child("emb_layers").child("1"), emb_channels, out_channels);
  emb_and_in_conv_bias_ = ops::add(emb_proj_.bias, in_conv_.bias);
  out_norm_.load(w.child("out_layers").child("0"), kGroups, out_channels, kResNormEps);
  out_conv_.load(w.child("out_layers").child("3"), out_channels, out_channels, 3, {1, 1});
  if (in_channels != out_channels) skip_.load(w.child("skip_connection"), in_channels, out_channels, 1, {1, 0});
  has_temporal_conv_ = temporal_conv;
  if (temporal_conv) temporal_conv_.load(w.child("temopral_conv"), out_channels);  // upstream's key typo
}

Tensor ResBlock::operator()(const Tensor& x, const Tensor& emb_silu, std::int64_t batch) const {
  const std::int64_t n = x.size(0), height = x.size(1), width = x.size(2), cin = x.size(3);
  // in_conv_'s bias and the timestep embedding are per (video, channel): out_norm_ adds both as it reads
  // in_conv_'s raw output, which is the only consumer of their sum.
  Tensor h = ops::conv2d(in_norm_(x.reshape({n, height * width, cin}), ops::Activation::SiLU).reshape(x.shape()),
                         in_conv_.weight, nullptr, in_conv_.params);
  const Tensor e = ops::linear(emb_silu, emb_proj_.weight, &emb_and_in_conv_bias_);  // [batch, C]
  h = out_norm_(h.reshape({n, height * width, out_channels_}), ops::Activation::SiLU, &e);
  Tensor skip = skip_.weight.defined() ? skip_(x) : x;
  h = out_conv_(h.reshape({n, height, width, out_channels_}), &skip);
  return has_temporal_conv_ ? temporal_conv_(h, batch) : h;
}

// ---- Downsample / Upsample ---------------------------------------------------------------

void Downsample::load(const nn::WeightBinder& w, std::int64_t channels) {
  conv_.load(w.child("op"), channels, channels, 3, {2, 1});
}

void Upsample::load(const nn::WeightBinder& w, std::int64_t channels) {
  conv_.load(w.child("conv"), channels, channels, 3, {1, 1});
}

// ---- SelfAttention -----------------------------------------------------------------------

void SelfAttention::load(const nn::WeightBinder& w, std::int64_t dim, int heads, int dim_head) {
  heads_ = heads;
  dim_head_ = dim_head;
  const std::int64_t inner = std::int64_t{heads} * dim_head;
  nn::Linear q, k, v;
  q.load(w.child("to_q"), dim, inner, nn::HasBias::No);
  k.load(w.child("to_k"), dim, inner, nn::HasBias::No);
  v.load(w.child("to_v"), dim, inner, nn::HasBias::No);
  qkv_.weight = ops::concat({q.weight, k.weight, v.weight}, 0);
  to_out_.load(w.child("to_out").child("0"), inner, dim);
}

Tensor SelfAttention::operator()(const Tensor& x, const Tensor& residual) const {
  const std::int64_t n = x.size(0), len = x.size(1);
  // [N, L, 3, heads, dim_head]: q, k and v are strided views of one projection.
  Tensor qkv = qkv_(x).reshape({n, len, 3, heads_, dim_head_});
  Tensor o = ops::attention(qkv.select(2, 0), qkv.select(2, 1), qkv.select(2, 2), nullptr, attention_scale(dim_head_));
  return to_out_(merge_heads(o), {.residual = &residual});
}

Tensor SelfAttention::over_frames(const Tensor& x, const Tensor& residual) const {
  const std::int64_t batch = x.size(0), frames = x.size(1), pixels = x.size(2);
  // [B, T, P, 3, heads, dim_head]; per batch element, the sequences are [P, T, heads, dim_head]
  // views whose frame stride is P tokens. B is 1 or 2 (classifier-free guidance): one call each,
  // since batch and pixel strides do not merge into one.
  const Tensor qkv = qkv_(x).reshape({batch, frames, pixels, 3, heads_, dim_head_});
  const Tensor o = Tensor::empty({batch, frames, pixels, heads_, dim_head_}, x.dtype(), x.device());
  for (std::int64_t b = 0; b < batch; ++b) {
    const Tensor s = qkv.select(0, b).permute({1, 0, 2, 3, 4});  // [P, T, 3, heads, dim_head]
    ops::attention_into(o.select(0, b).permute({1, 0, 2, 3}), s.select(2, 0), s.select(2, 1), s.select(2, 2), nullptr,
                        attention_scale(dim_head_));
  }
  return to_out_(o.reshape({batch, frames, pixels, std::int64_t{heads_} * dim_head_}), {.residual = &residual});
}

// ---- CrossAttention ----------------------------------------------------------------------

void CrossAttention::load(const nn::WeightBinder& w, std::int64_t dim, std::int64_t context_dim, int heads,
                          int dim_head, ContextSplit split) {
  heads_ = heads;
  dim_head_ = dim_head;
  split_ = split;
  const std::int64_t inner = std::int64_t{heads} * dim_head;
  to_q_.load(w.child("to_q"), dim, inner, nn::HasBias::No);
  to_k_.load(w.child("to_k"), context_dim, inner, nn::HasBias::No);
  to_v_.load(w.child("to_v"), context_dim, inner, nn::HasBias::No);
  to_k_ip_.load(w.child("to_k_ip"), context_dim, inner, nn::HasBias::No);
  to_v_ip_.load(w.child("to_v_ip"), context_dim, inner, nn::HasBias::No);
  to_k_as_.load(w.child("to_k_as"), context_dim, inner, nn::HasBias::No);
  to_v_as_.load(w.child("to_v_as"), context_dim, inner, nn::HasBias::No);
  to_k_aa_.load(w.child("to_k_aa"), context_dim, inner, nn::HasBias::No);
  to_v_aa_.load(w.child("to_v_aa"), context_dim, inner, nn::HasBias::No);
  to_out_.load(w.child("to_out").child("0"), inner, dim);
}

AttentionBranch CrossAttention::project(const nn::Linear& to_k, const nn::Linear& to_v, const Tensor& tokens) const {
  WMA_CHECK(tokens.size(1) > 0, "[CrossAttention] empty context segment (", tokens.describe(), ")");
  return {split_heads(to_k(tokens), heads_, dim_head_), split_heads(to_v(tokens), heads_, dim_head_), Tensor()};
}

CrossAttentionCache CrossAttention::prepare(const Tensor& context, std::int64_t query_len,
                                            ActionMaskCache& masks) const {
  const std::int64_t len = context.size(1);
  const std::int64_t text = split_.text, state = split_.state, action = split_.action;
  auto segment = [&](std::int64_t begin, std::int64_t end) { return context.slice(1, begin, std::min(end, len)); };
  CrossAttentionCache cache;
  if (len == text + split_.video_length) {
    // Base-model layout [text | image]: the text branch sees the image tokens too
    // (docs/upstream.md#base-model-text-keys).
    cache.branches.push_back(project(to_k_, to_v_, context));
    cache.branches.push_back(project(to_k_ip_, to_v_ip_, segment(text, len)));
  } else if (len == state + text + split_.video_length) {
    cache.branches.push_back(project(to_k_, to_v_, segment(state, state + text)));
    cache.branches.push_back(project(to_k_ip_, to_v_ip_, segment(state + text, len)));
    cache.branches.push_back(project(to_k_as_, to_v_as_, segment(0, state)));
  } else {
    // [state | action | text | image] cut with this block's action length, which in the output
    // blocks (16) differs from the context's real layout (256): kept on purpose
    // (docs/upstream.md#output-block-action-length).
    cache.branches.push_back(project(to_k_, to_v_, segment(state + action, state + action + text)));
    cache.branches.push_back(project(to_k_ip_, to_v_ip_, segment(state + action + text, len)));
    cache.branches.push_back(project(to_k_as_, to_v_as_, segment(0, state)));
    AttentionBranch aa = project(to_k_aa_, to_v_aa_, segment(state, state + action));
    const std::int64_t rows = context.size(0), keys = aa.k.size(1);
    Tensor& mask = masks[{rows, query_len, keys}];
    if (!mask.defined()) mask = action_mask(rows, query_len, keys, context);
    aa.mask = mask;
    cache.branches.push_back(std::move(aa));
  }
  return cache;
}

Tensor CrossAttention::operator()(const Tensor& x, const CrossAttentionCache& cache, const Tensor& residual) const {
  Tensor q = split_heads(to_q_(x), heads_, dim_head_);
  std::vector<ops::KeyValueBranch> branches;
  for (const AttentionBranch& b : cache.branches) branches.push_back({b.k, b.v, b.mask.defined() ? &b.mask : nullptr});
  return to_out_(merge_heads(ops::attention_sum(q, branches, attention_scale(dim_head_))), {.residual = &residual});
}

// ---- GegluFeedForward --------------------------------------------------------------------

void GegluFeedForward::load(const nn::WeightBinder& w, std::int64_t dim) {
  proj_.load(w.child("net").child("0").child("proj"), dim, 8 * dim);
  out_.load(w.child("net").child("2"), 4 * dim, dim);
}

Tensor GegluFeedForward::operator()(const Tensor& x, const Tensor& residual) const {
  return out_(ops::geglu(proj_(x)), {.residual = &residual});
}

// ---- transformer blocks ------------------------------------------------------------------

void SpatialTransformerBlock::load(const nn::WeightBinder& w, std::int64_t dim, std::int64_t context_dim, int heads,
                                   int dim_head, ContextSplit split) {
  norm1_.load(w.child("norm1"), dim);
  norm2_.load(w.child("norm2"), dim);
  norm3_.load(w.child("norm3"), dim);
  attn1_.load(w.child("attn1"), dim, heads, dim_head);
  attn2_.load(w.child("attn2"), dim, context_dim, heads, dim_head, split);
  ff_.load(w.child("ff"), dim);
}

Tensor SpatialTransformerBlock::operator()(const Tensor& x, const CrossAttentionCache& cache) const {
  Tensor h = attn1_(norm1_(x), x);
  h = attn2_(norm2_(h), cache, h);
  return ff_(norm3_(h), h);
}

void TemporalTransformerBlock::load(const nn::WeightBinder& w, std::int64_t dim, int heads, int dim_head) {
  norm1_.load(w.child("norm1"), dim);
  norm2_.load(w.child("norm2"), dim);
  norm3_.load(w.child("norm3"), dim);
  attn1_.load(w.child("attn1"), dim, heads, dim_head);
  attn2_.load(w.child("attn2"), dim, heads, dim_head);
  ff_.load(w.child("ff"), dim);
}

Tensor TemporalTransformerBlock::operator()(const Tensor& x) const {
  Tensor h = attn1_.over_frames(norm1_(x), x);
  h = attn2_.over_frames(norm2_(h), h);
  return ff_(norm3_(h), h);
}

// ---- SpatialTransformer ------------------------------------------------------------------

void SpatialTransformer::load(const nn::WeightBinder& w, std::int64_t channels, int heads, int dim_head, int depth,
                              std::int64_t context_dim, bool use_linear, ContextSplit split) {
  const std::int64_t inner = std::int64_t{heads} * dim_head;
  const auto form = use_linear ? PointwiseProjection::Form::Linear : PointwiseProjection::Form::Conv2d;
  norm_.load(w.child("norm"), kGroups, channels, kTransformerNormEps);
  proj_in_.load(w.child("proj_in"), channels, inner, form);
  proj_out_.load(w.child("proj_out"), inner, channels, form);
  blocks_.resize(static_cast<std::size_t>(depth));
  for (int d = 0; d < depth; ++d)
    blocks_[d].load(w.child("transformer_blocks").child(std::to_string(d)), inner, context_dim, heads, dim_head, split);
}

std::vector<CrossAttentionCache> SpatialTransformer::prepare(const Tensor& context, std::int64_t query_len,
                                                             ActionMaskCache& masks) const {
  std::vector<CrossAttentionCache> caches;
  for (const auto& block : blocks_) caches.push_back(block.cross_attention().prepare(context, query_len, masks));
  return caches;
}

Tensor SpatialTransformer::operator()(const Tensor& x, const std::vector<CrossAttentionCache>& caches) const {
  const std::int64_t n = x.size(0), tokens = x.size(1) * x.size(2), channels = x.size(3);
  Tensor x_in = x.reshape({n, tokens, channels});
  Tensor h = proj_in_(norm_(x_in));
  for (std::size_t d = 0; d < blocks_.size(); ++d) h = blocks_[d](h, caches[d]);
  return proj_out_(h, {.residual = &x_in}).reshape(x.shape());
}

// ---- TemporalTransformer -----------------------------------------------------------------

void TemporalTransformer::load(const nn::WeightBinder& w, std::int64_t channels, int heads, int dim_head, int depth,
                               bool use_linear) {
  const std::int64_t inner = std::int64_t{heads} * dim_head;
  const auto form = use_linear ? PointwiseProjection::Form::Linear : PointwiseProjection::Form::Conv1d;
  norm_.load(w.child("norm"), kGroups, channels, kTransformerNormEps);
  proj_in_.load(w.child("proj_in"), channels, inner, form);
  proj_out_.load(w.child("proj_out"), inner, channels, form);
  blocks_.resize(static_cast<std::size_t>(depth));
  for (int d = 0; d < depth; ++d)
    blocks_[d].load(w.child("transformer_blocks").child(std::to_string(d)), inner, heads, dim_head);
}

Tensor TemporalTransformer::operator()(const Tensor& x, std::int64_t batch) const {
  const std::int64_t frames = x.size(0) / batch, pixels = x.size(1) * x.size(2), channels = x.size(3);
  Tensor x_in = x.reshape({batch, frames, pixels, channels});
  Tensor n = norm_(x.reshape({batch, frames * pixels, channels})).reshape(x_in.shape());
  // Sequences are the frames of one pixel (upstream's [B*HW, T, C]). Everything but their
  // attention is per token, and that reads frame-strided views, so h stays [B, T, HW, C].
  Tensor h = proj_in_(n);
  for (const auto& block : blocks_) h = block(h);
  return proj_out_(h, {.residual = &x_in}).reshape(x.shape());
}

}  // namespace wma::models
