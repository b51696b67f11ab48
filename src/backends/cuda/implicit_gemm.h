// The convolution paths: one general SIMT implicit-GEMM kernel (every conv, every dtype, and
// the GEMM fallback for linear), out[m, co] = sum_k A[m, k] * weight[co, k] + bias[co] +
// residual[m, co] with A gathering output pixel m's input patch on the fly, fp32 accumulation;
// and cuDNN on tensor cores for f16/bf16 conv2d and conv_temporal.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace wma::cuda {

// An NHWC input [n, h, w, cin] convolved with a [cout, kh, kw, cin] weight into
// [n, ho, wo, cout]. `transposed` gathers like a transposed convolution: input pixel
// (oh + pad_h - r) / stride_h when that divides exactly.
struct ConvGeometry {
  std::int64_t n = 1;
  int h = 1, w = 1, cin = 1;
  int ho = 1, wo = 1, cout = 1;
  int kh = 1, kw = 1;
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
  bool transposed = false;
};

// x, weight, bias, residual and out contiguous and of one float dtype; residual may alias out.
void implicit_gemm(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor* bias, const Tensor* residual,
                   const ConvGeometry& g);

// The same contract for f16/bf16 through cuDNN (residual must not alias out). Returns false,
// having done nothing, when cuDNN is not built in or has no suitable engine for the shape.
bool cudnn_conv(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor* bias, const Tensor* residual,
                const ConvGeometry& g);

}  // namespace wma::cuda
