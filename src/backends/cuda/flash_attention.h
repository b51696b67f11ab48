// Attention on tensor cores for the head dim the UNet uses (64), f16/bf16: the fast paths
// behind cuda::attention, which keeps its general kernel for everything else.
#pragma once

#include <cstdint>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "ops/params.h"

namespace wma::cuda {

// Whether every row of a [b, l, h, d] tensor (d contiguous) starts on a multiple of `elements` 16-bit elements
// (8: the 16-byte chunks cp.async moves; 2: the element pairs the kernels store).
inline bool rows_aligned(const Tensor& t, int elements) {
  if ((reinterpret_cast<std::uintptr_t>(t.data_ptr()) & (2u * elements - 1)) != 0) return false;
  for (int d = 0; d < 3; ++d)
    if (t.size(d) > 1 && t.stride(d) % elements != 0) return false;
  return true;
}

// Whether out, q and the branches suit the tensor-core kernels: f16/bf16, 1 to max_branches branches, head dim
// `head_dim` for q/k and v, keys present, rows aligned for cp.async's 16-byte chunks (8 elements) and for the
// stores of element pairs (2).
inline bool flash_operands_fit(const Tensor& out, const Tensor& q, const std::vector<ops::KeyValueBranch>& branches,
                               std::size_t max_branches, std::int64_t head_dim) {
  if (out.dtype() != DType::F16 && out.dtype() != DType::BF16) return false;
  if (branches.empty() || branches.size() > max_branches || q.size(3) != head_dim) return false;
  if (!rows_aligned(q, 8) || !rows_aligned(out, 2)) return false;
  for (const ops::KeyValueBranch& kv : branches)
    if (kv.v.size(3) != head_dim || kv.k.size(1) == 0 || !rows_aligned(kv.k, 8) || !rows_aligned(kv.v, 8)) return false;
  return true;
}

// One key/value branch as both tensor-core kernels read it: device pointers and strides in elements of [b, l, h, d]
// views, and an optional additive mask with its batch stride (0 when the batch shares it) and key stride.
struct KeyValueArgs {
  const void* k;
  const void* v;
  std::int64_t lk;
  std::int64_t k_sb, k_sl, k_sh;
  std::int64_t v_sb, v_sl, v_sh;
  const void* mask;
  std::int64_t m_sb, m_sk;
};

// What either kernel's argument struct holds in common: query count, q and out strides (elements), the softmax
// scale times log2(e), and per branch the key/value pointers, key count and strides, and the mask pointer with
// its batch and key strides (batch stride 0 for a mask shared by the batch).
template <typename Args>
void pack_attention_args(Args& a, const Tensor& out, const Tensor& q, const std::vector<ops::KeyValueBranch>& branches,
                         float scale_log2) {
  a.lq = q.size(1);
  a.q_sb = q.stride(0), a.q_sl = q.stride(1), a.q_sh = q.stride(2);
  a.o_sb = out.stride(0), a.o_sl = out.stride(1), a.o_sh = out.stride(2);
  a.scale_log2 = scale_log2;
  a.branches = static_cast<int>(branches.size());
  for (std::size_t i = 0; i < branches.size(); ++i) {
    const ops::KeyValueBranch& kv = branches[i];
    auto& br = a.branch[i];
    br.k = kv.k.data_ptr();
    br.v = kv.v.data_ptr();
    br.lk = kv.k.size(1);
    br.k_sb = kv.k.stride(0), br.k_sl = kv.k.stride(1), br.k_sh = kv.k.stride(2);
    br.v_sb = kv.v.stride(0), br.v_sl = kv.v.stride(1), br.v_sh = kv.v.stride(2);
    WMA_CHECK(br.lk <= INT32_MAX / 2, "[attention] too many keys");
    if (kv.mask == nullptr) continue;
    br.mask = kv.mask->data_ptr();
    br.m_sb = kv.mask->size(0) == 1 ? 0 : kv.mask->stride(0);
    br.m_sk = kv.mask->stride(2);
  }
}

// The sum over branches of cuda::attention(out, q, k_i, v_i, mask_i) (arguments already checked), one kernel
// reading q once (at most four branches; one is plain attention). Returns false, having done nothing, when the
// shapes, dtypes, strides or alignment do not suit the kernel.
bool flash_attention_sum(const Tensor& out, const Tensor& q, const std::vector<ops::KeyValueBranch>& branches,
                         float scale);

// The same on Hopper's warpgroup MMA (flash_attention_wgmma.cu), where context().wgmma_ allows it; false also for
// a mask that varies along the queries.
bool flash_attention_wgmma_sum(const Tensor& out, const Tensor& q, const std::vector<ops::KeyValueBranch>& branches,
                               float scale);
// Whether the code loaded for this device holds the wgmma kernel (sm_90a SASS, not a PTX or older-architecture
// build); asked once at start-up.
bool wgmma_attention_compiled();

// Unmasked attention over short sequences (Lq, Lk <= 32; the UNet's temporal attention over 16
// frames), head dim 64, f16/bf16, one warp per (sequence, head); short_attention.cu. Same
// contract and return convention as flash_attention_sum with one branch.
bool short_attention(const Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                     float scale);

}  // namespace wma::cuda
