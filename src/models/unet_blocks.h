// Building blocks of upstream's WMAModel video UNet: ResBlock + TemporalConvBlock, Downsample, Upsample
// (modules/networks/wma_model.py), SpatialTransformer / TemporalTransformer / BasicTransformerBlock /
// CrossAttention (xformers efficient_forward) / GEGLU FeedForward (modules/attention.py).
// Activations are channels-last: frames folded into N, images [N, H, W, C], sequences [N, L, C].
#pragma once

#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include "nn/layers.h"

namespace wma::models {

// Linear layer whose checkpoint form may be a pointwise convolution (weight [out, in, 1] or
// [out, in, 1, 1]): upstream's non-`use_linear` projections are the same per-token map.
struct PointwiseProjection {
  enum class Form : std::uint8_t { Linear, Conv1d, Conv2d };
  nn::Linear linear;
  void load(const nn::WeightBinder& w, std::int64_t in, std::int64_t out, Form form);
  Tensor operator()(const Tensor& x, const ops::LinearEpilogue& epilogue = {}) const { return linear(x, epilogue); }
};

// torch GroupNorm(32, C) -> SiLU -> Conv3d(C, C, (3,1,1), padding (1,0,0)), four times, plus the
// input. GroupNorm statistics span all frames of a batch element.
class TemporalConvBlock {
 public:
  void load(const nn::WeightBinder& w, std::int64_t channels);
  // x [B*T, H, W, C] -> same shape.
  Tensor operator()(const Tensor& x, std::int64_t batch) const;

 private:
  nn::GroupNorm norms_[4];
  nn::ConvTemporal convs_[4];
  Tensor conv_bias_rows_[4];  // convs_[i].bias as [1, C]: convs 1-3 leave it to the next norm
};

class ResBlock {
 public:
  void load(const nn::WeightBinder& w, std::int64_t in_channels, std::int64_t out_channels, std::int64_t emb_channels,
            bool temporal_conv);
  // x [B*T, H, W, Cin]; emb_silu [B, E] = SiLU(time + fps embedding), identical for the T
  // frames of a batch element (upstream repeat_interleaves it) -> [B*T, H, W, Cout].
  Tensor operator()(const Tensor& x, const Tensor& emb_silu, std::int64_t batch) const;

 private:
  std::int64_t out_channels_ = 0;
  nn::GroupNorm in_norm_, out_norm_;
  nn::Conv2d in_conv_, out_conv_;
  nn::Conv2d skip_;  // 1x1, only when the channel count changes
  nn::Linear emb_proj_;
  // emb_proj_'s bias plus in_conv_'s: the two per-channel terms out_norm_ adds to in_conv_'s raw output.
  Tensor emb_and_in_conv_bias_;
  bool has_temporal_conv_ = false;
  TemporalConvBlock temporal_conv_;
};

// Conv2d(C, C, 3, stride 2, padding 1) at key `op`.
class Downsample {
 public:
  void load(const nn::WeightBinder& w, std::int64_t channels);
  Tensor operator()(const Tensor& x) const { return conv_(x); }

 private:
  nn::Conv2d conv_;
};

// Nearest x2 then Conv2d(C, C, 3, padding 1) at key `conv`.
class Upsample {
 public:
  void load(const nn::WeightBinder& w, std::int64_t channels);
  Tensor operator()(const Tensor& x) const { return conv_(ops::upsample_nearest2x(x)); }

 private:
  nn::Conv2d conv_;
};

// Self-attention with q/k/v fused into one projection at load (no bias, like upstream's
// to_q/to_k/to_v); to_out.0 has a bias.
class SelfAttention {
 public:
  void load(const nn::WeightBinder& w, std::int64_t dim, int heads, int dim_head);
  // x [N, L, dim] (already normed) -> to_out(attention) + residual.
  Tensor operator()(const Tensor& x, const Tensor& residual) const;
  // x [B, T, P, dim] (already normed): each of the P tokens attends over its T frames, read and
  // written in place as strided views (no transposes) -> to_out(attention) + residual.
  Tensor over_frames(const Tensor& x, const Tensor& residual) const;

 private:
  nn::Linear qkv_, to_out_;
  int heads_ = 0, dim_head_ = 0;
};

// Keys and values of one attention branch, projected once per sampling pass.
struct AttentionBranch {
  Tensor k, v;  // [B*T, Lk, heads, dim_head]
  Tensor mask;  // additive bias [B*T, Lq, Lk] or undefined
};

// The step-invariant part of one spatial cross-attention: its branches in upstream's
// summation order (text, image, state, action); absent branches are left out.
struct CrossAttentionCache {
  std::vector<AttentionBranch> branches;
};

// Action masks depend only on (rows, Lq, La); blocks at the same resolution share one.
using ActionMaskCache = std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t>, Tensor>;

// Context split lengths of one CrossAttention (upstream constructor arguments).
struct ContextSplit {
  std::int64_t text = 77;
  std::int64_t video_length = 16;  // WMAModel passes temporal_length
  std::int64_t state = 2;          // n_obs_steps
  std::int64_t action = 16;        // temporal_length * num_stem_token in input/middle blocks, 16 in output blocks
};

// attn2 of a SpatialTransformer: shared query against several separately-softmaxed key sets
// (text via to_k/to_v, image via _ip, state via _as, action via _aa with a block-causal mask),
// summed before to_out. Which branches exist and where they cut the context is decided by the
// per-frame context length, exactly like upstream's efficient_forward.
class CrossAttention {
 public:
  void load(const nn::WeightBinder& w, std::int64_t dim, std::int64_t context_dim, int heads, int dim_head,
            ContextSplit split);
  // context [B*T, Lc, context_dim] -> the cache for queries of length `query_len`.
  CrossAttentionCache prepare(const Tensor& context, std::int64_t query_len, ActionMaskCache& masks) const;
  // x [N, Lq, dim] (already normed) -> to_out(sum of branch outputs) + residual.
  Tensor operator()(const Tensor& x, const CrossAttentionCache& cache, const Tensor& residual) const;

 private:
  AttentionBranch project(const nn::Linear& to_k, const nn::Linear& to_v, const Tensor& tokens) const;

  nn::Linear to_q_, to_k_, to_v_, to_k_ip_, to_v_ip_, to_k_as_, to_v_as_, to_k_aa_, to_v_aa_, to_out_;
  int heads_ = 0, dim_head_ = 0;
  ContextSplit split_;
};

// Linear(dim, 8 dim) -> a * GELU(gate) -> Linear(4 dim, dim) at keys net.0.proj / net.2.
class GegluFeedForward {
 public:
  void load(const nn::WeightBinder& w, std::int64_t dim);
  Tensor operator()(const Tensor& x, const Tensor& residual) const;

 private:
  nn::Linear proj_, out_;
};

// BasicTransformerBlock of a SpatialTransformer: self-attention, four-way cross-attention, FF.
class SpatialTransformerBlock {
 public:
  void load(const nn::WeightBinder& w, std::int64_t dim, std::int64_t context_dim, int heads, int dim_head,
            ContextSplit split);
  Tensor operator()(const Tensor& x, const CrossAttentionCache& cache) const;
  const CrossAttention& cross_attention() const { return attn2_; }

 private:
  nn::LayerNorm norm1_, norm2_, norm3_;
  SelfAttention attn1_;
  CrossAttention attn2_;
  GegluFeedForward ff_;
};

// BasicTransformerBlock of a TemporalTransformer: both attentions are self-attention over the
// frames (only_self_att), with separate weights.
class TemporalTransformerBlock {
 public:
  void load(const nn::WeightBinder& w, std::int64_t dim, int heads, int dim_head);
  // x [B, T, P, dim] -> same shape; the sequences are the T frames of each of the P tokens.
  Tensor operator()(const Tensor& x) const;

 private:
  nn::LayerNorm norm1_, norm2_, norm3_;
  SelfAttention attn1_, attn2_;
  GegluFeedForward ff_;
};

// GroupNorm(32, C, eps 1e-6) per frame, proj_in, transformer blocks over the H*W tokens of each
// frame, proj_out, plus the input.
class SpatialTransformer {
 public:
  void load(const nn::WeightBinder& w, std::int64_t channels, int heads, int dim_head, int depth,
            std::int64_t context_dim, bool use_linear, ContextSplit split);
  // One cache per transformer block.
  std::vector<CrossAttentionCache> prepare(const Tensor& context, std::int64_t query_len, ActionMaskCache& masks) const;
  // x [B*T, H, W, C] -> same shape.
  Tensor operator()(const Tensor& x, const std::vector<CrossAttentionCache>& caches) const;

 private:
  nn::GroupNorm norm_;
  PointwiseProjection proj_in_, proj_out_;
  std::vector<SpatialTransformerBlock> blocks_;
};

// GroupNorm(32, C, eps 1e-6) over all frames, then transformer blocks over the T frames of each
// pixel (upstream's sequences [(B*H*W), T, inner], here kept in [B, T, H*W, inner] and read as
// strided views), plus the input. No relative position, no causal mask.
class TemporalTransformer {
 public:
  void load(const nn::WeightBinder& w, std::int64_t channels, int heads, int dim_head, int depth, bool use_linear);
  // x [B*T, H, W, C] -> same shape.
  Tensor operator()(const Tensor& x, std::int64_t batch) const;

 private:
  nn::GroupNorm norm_;
  PointwiseProjection proj_in_, proj_out_;
  std::vector<TemporalTransformerBlock> blocks_;
};

}  // namespace wma::models
