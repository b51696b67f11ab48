// Attention on tensor cores for the head dim the UNet uses (64), f16/bf16: the fast paths
// behind cuda::attention, which keeps its general kernel for everything else.
#pragma once

#include <cstdint>
#include <vector>

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

// Same contract as cuda::attention (arguments already checked). Returns false, having done
// nothing, when the shapes, dtypes, strides or alignment do not suit the kernel.
bool flash_attention(const Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                     float scale);

// The sum over branches of flash_attention(out, q, k_i, v_i, mask_i), one kernel reading q once (at most four
// branches); same return convention.
bool flash_attention_sum(const Tensor& out, const Tensor& q, const std::vector<ops::KeyValueBranch>& branches,
                         float scale);

// Attention on Hopper's warpgroup MMA (flash_attention_wgmma.cu), where context().wgmma_ allows it. Same contracts
// and return convention as flash_attention and flash_attention_sum; false for a mask that varies along the
// queries.
bool flash_attention_wgmma(const Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                           float scale);
bool flash_attention_wgmma_sum(const Tensor& out, const Tensor& q, const std::vector<ops::KeyValueBranch>& branches,
                               float scale);
// Whether the code loaded for this device holds the wgmma kernel (sm_90a SASS, not a PTX or older-architecture
// build); asked once at start-up.
bool wgmma_attention_compiled();

// Unmasked attention over short sequences (Lq, Lk <= 32; the UNet's temporal attention over 16
// frames), head dim 64, f16/bf16, one warp per (sequence, head); short_attention.cu. Same
// contract and return convention as flash_attention.
bool short_attention(const Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                     float scale);

}  // namespace wma::cuda
