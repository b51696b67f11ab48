"""`memory_efficient_attention` computed with torch's scaled_dot_product_attention.

Same math as xformers: softmax(q k^T * scale + bias) v over [B, M, K] tensors, default scale
1/sqrt(K). Only the arguments upstream passes (attn_bias tensor or None, op=None) are supported.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def memory_efficient_attention(query: torch.Tensor,
                               key: torch.Tensor,
                               value: torch.Tensor,
                               attn_bias: torch.Tensor | None = None,
                               p: float = 0.0,
                               scale: float | None = None,
                               op: object | None = None) -> torch.Tensor:
    if p != 0.0 or op is not None:
        raise NotImplementedError("xformers shim: only p=0 and op=None are supported")
    if attn_bias is not None and not isinstance(attn_bias, torch.Tensor):
        raise NotImplementedError("xformers shim: attn_bias must be a tensor")
    return F.scaled_dot_product_attention(query, key, value, attn_mask=attn_bias, scale=scale)
