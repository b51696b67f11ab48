// Attention on tensor cores for the head dim the UNet uses (64), f16/bf16: the fast paths
// behind cuda::attention, which keeps its general kernel for everything else.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "ops/params.h"

namespace wma::cuda {

// Same contract as cuda::attention (arguments already checked). Returns false, having done
// nothing, when the shapes, dtypes, strides or alignment do not suit the kernel.
bool flash_attention(const Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                     float scale);

// The sum over branches of flash_attention(out, q, k_i, v_i, mask_i), one kernel reading q once (at most four
// branches); same return convention.
bool flash_attention_sum(const Tensor& out, const Tensor& q, const std::vector<ops::KeyValueBranch>& branches,
                         float scale);

// Unmasked attention over short sequences (Lq, Lk <= 32; the UNet's temporal attention over 16
// frames), head dim 64, f16/bf16, one warp per (sequence, head); short_attention.cu. Same
// contract and return convention as flash_attention.
bool short_attention(const Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                     float scale);

}  // namespace wma::cuda
