// The op set, declared once. Each op checks its arguments here (errors are tagged
// "[op]"), allocates its output on the input's device from the current allocator, and
// dispatches to backends/cpu or backends/cuda (same function names, see
// backends/kernels.inc; the parameter types both share are in ops/params.h). Layouts are
// channels-last: images [N, H, W, C], video [B, T, H, W, C].
//
// dtypes: the CPU backend computes in f32 only (it is the reference). The CUDA backend
// takes f32, f16 or bf16 activations and weights of the same dtype, accumulates in f32,
// and keeps norm statistics and softmax in f32. Norm affine parameters may be any float dtype.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "ops/params.h"

namespace wma::ops {

// ---- data movement -------------------------------------------------------------------

// dst = src, element by element; shapes must match, any strides, any dtypes (converted),
// both on the same device.
void copy_into(const Tensor& dst, const Tensor& src);
Tensor contiguous(const Tensor& x);                // returns x itself when already contiguous
Tensor cast(const Tensor& x, DType dtype);         // returns x itself when dtype matches
Tensor to_device(const Tensor& x, Device device);  // contiguous copy on `device`
Tensor concat(const std::vector<Tensor>& xs, int dim);
// Tiles x `times` times along dim: [a, b] -> [a, b, a, b].
Tensor repeat(const Tensor& x, int dim, std::int64_t times);
// Repeats each slice along dim `times` times: [a, b] -> [a, a, b, b] (torch.repeat_interleave).
Tensor repeat_interleave(const Tensor& x, int dim, std::int64_t times);
void fill(const Tensor& dst, float value);

// ---- elementwise ---------------------------------------------------------------------

// Binary ops broadcast numpy-style (trailing dims aligned, size-1 dims stretch).
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
// alpha * x + beta * y, same shapes.
Tensor axpby(float alpha, const Tensor& x, float beta, const Tensor& y);
Tensor scale(const Tensor& x, float alpha);
Tensor activation(const Tensor& x, Activation act);
// x[..., 2N] -> x[..., :N] * GELU(x[..., N:]) (exact erf GELU; the gate is the second half).
Tensor geglu(const Tensor& x);

// Whether fused ops (group_norm's x_bias, conv_temporal's residual) run as one kernel. WMA_CUDA_FUSION=0
// makes their front doors compute the unfused composition instead, on every device, for bisecting.
bool fusion_enabled();
// Overrides the environment for the lifetime of the object (tests; not thread-safe).
class ScopedFusion {
 public:
  explicit ScopedFusion(bool enabled);
  ~ScopedFusion();
  ScopedFusion(const ScopedFusion&) = delete;
  ScopedFusion& operator=(const ScopedFusion&) = delete;

 private:
  bool saved_;
};

// ---- linear algebra ------------------------------------------------------------------

// x [..., K], weight [N, K] (torch layout), bias [N] or null -> [..., N].
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor* bias, const LinearEpilogue& epilogue = {});
// Batched a [B, M, K] x b [B or 1, K, N] -> [B, M, N].
Tensor matmul(const Tensor& a, const Tensor& b);

// ---- convolutions (weights pre-arranged by the loader, see nn/) ------------------------

// x [N, H, W, Cin], weight [Cout, kh, kw, Cin] (OHWI), bias [Cout] or null -> [N, Ho, Wo, Cout].
// `residual` (shape of the output) is added last.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor* bias, const Conv2dParams& params,
              const Tensor* residual = nullptr);
// Convolution over frames with a (k,1,1) kernel and zero padding `padding` in time:
// x [B, T, S, Cin] (S = H*W), weight [Cout, k, Cin], bias [Cout] or null -> [B, T', S, Cout].
// `residual` (shape of the output) is added last.
Tensor conv_temporal(const Tensor& x, const Tensor& weight, const Tensor* bias, int padding,
                     const Tensor* residual = nullptr);

// x [N, L, Cin], weight [Cout, k, Cin], bias [Cout] or null -> [N, Lo, Cout].
Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor* bias, const Conv1dParams& params);
// Transposed: Lo = (L - 1) * stride - 2 * padding + k. weight [Cout, k, Cin] (the loader
// permutes torch's [Cin, Cout, k]); out[n, o, co] = sum over l, j with l*stride - padding + j == o
// of x[n, l, ci] * weight[co, j, ci].
Tensor conv_transpose1d(const Tensor& x, const Tensor& weight, const Tensor* bias, const Conv1dParams& params);

// ---- normalisation -------------------------------------------------------------------

// x [N, L, C]: statistics per (n, group) over L x C/groups (biased variance), then
// y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c], then `act`.
// Per-frame norms pass [B*T, H*W, C]; norms across frames pass [B, T*H*W, C].
// `x_bias` [B, C] (N % B == 0) or null is added to x before everything else, row n / (N / B) to sample n:
// the producing conv's bias ([1, C]) or a ResBlock's per-video timestep embedding ([batch, C] for
// N = batch * frames) folded into the norm, so the biased tensor is never written. `act` is None, SiLU or Mish.
// `film` [N, 2, C] or null: y = act(...) * film[n, 0] + film[n, 1] last (the 1-D heads' FiLM conditioning).
Tensor group_norm(const Tensor& x, int groups, const Tensor* weight, const Tensor* bias, float eps,
                  Activation act = Activation::None, const Tensor* x_bias = nullptr, const Tensor* film = nullptr);
// Over the last dim; weight/bias [C] or null.
Tensor layer_norm(const Tensor& x, const Tensor* weight, const Tensor* bias, float eps);
// Over the last dim.
Tensor softmax(const Tensor& x);
// logits [N, P, K] (K maps over P positions, channels-last), pos [P, D] -> [N, K, D]:
// out[n, k] = sum_p softmax_p(logits[n, :, k]) * pos[p], a spatial softmax's expected coordinates. Fused: the
// logits are read once where they lie, with no transpose and no probability tensor.
Tensor spatial_softmax(const Tensor& logits, const Tensor& pos);

// ---- attention -----------------------------------------------------------------------

// q [B, Lq, H, D], k [B, Lk, H, D], v [B, Lk, H, Dv] (any strides with the last dim
// contiguous, so slices of a fused projection work); mask: null or an additive bias
// [Bm, Lq, Lk] with Bm == B or 1, shared by all heads (-inf masks a key).
// out[b, i, h] = softmax_j(scale * q[b,i,h] . k[b,j,h] + mask[b,i,j]) v[b,j,h] -> [B, Lq, H, Dv].
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, float scale);
// The same, written into `out` [B, Lq, H, Dv] (q's dtype and device), which may be a strided view
// with a contiguous last dim: e.g. the frames of each pixel of a [B, T, P, H, Dv] tensor.
void attention_into(const Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                    float scale);
// sum_i attention(q, k_i, v_i, mask_i, scale), each branch with its own softmax (upstream's cross-attention
// branches over text, image, state and action tokens share q): fused, q is read once and the sum written once.
Tensor attention_sum(const Tensor& q, const std::vector<KeyValueBranch>& branches, float scale);

// ---- resampling and embeddings -------------------------------------------------------

// x [N, H, W, C] -> [N, 2H, 2W, C], out[i, j] = x[i/2, j/2].
Tensor upsample_nearest2x(const Tensor& x);

// t [B] (i64, i32 or f32 timesteps) -> [B, dim] f32 on t's device.
Tensor timestep_embedding(const Tensor& t, int dim, TimestepStyle style);

// ---- sampler updates -------------------------------------------------------------------

Tensor eps_ddim_step(const Tensor& eps, const Tensor& sample, const EpsDdimStep& step);

}  // namespace wma::ops
