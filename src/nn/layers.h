// Reusable layers bound to checkpoint keys. Each `load` takes the layer's own binder
// (prefix ending at the layer, e.g. "...in_layers.2.") and the sizes upstream builds it
// with; weights are rearranged once at load into the layouts the ops want (channels-last).
#pragma once

#include "nn/weights.h"
#include "ops/ops.h"

namespace wma::nn {

enum class HasBias : bool { No = false, Yes = true };

struct Linear {
  Tensor weight;  // [out, in]
  Tensor bias;    // [out] or undefined
  void load(const WeightBinder& w, std::int64_t in, std::int64_t out, HasBias has_bias = HasBias::Yes);
  Tensor operator()(const Tensor& x, const ops::LinearEpilogue& epilogue = {}) const;
};

// torch Conv2d(in, out, k) with symmetric zero padding; x [N, H, W, Cin].
struct Conv2d {
  Tensor weight;  // [out, k, k, in] (OHWI)
  Tensor bias;
  ops::Conv2dParams params;
  void load(const WeightBinder& w, std::int64_t in, std::int64_t out, int kernel, ops::Conv2dParams params,
            HasBias has_bias = HasBias::Yes);
  Tensor operator()(const Tensor& x, const Tensor* residual = nullptr) const;
};

// torch Conv3d(in, out, (k,1,1), padding (p,0,0)); x [B, T, S, Cin].
struct ConvTemporal {
  Tensor weight;  // [out, k, in]
  Tensor bias;
  int padding = 0;
  void load(const WeightBinder& w, std::int64_t in, std::int64_t out, int kernel, int padding);
  Tensor operator()(const Tensor& x) const;
};

// torch Conv1d(in, out, k, stride, padding); x [N, L, Cin].
struct Conv1d {
  Tensor weight;  // [out, k, in]
  Tensor bias;
  ops::Conv1dParams params;
  void load(const WeightBinder& w, std::int64_t in, std::int64_t out, int kernel, ops::Conv1dParams params,
            HasBias has_bias = HasBias::Yes);
  Tensor operator()(const Tensor& x) const;
};

// torch ConvTranspose1d(in, out, k, stride, padding); x [N, L, Cin].
struct ConvTranspose1d {
  Tensor weight;  // [out, k, in]
  Tensor bias;
  ops::Conv1dParams params;
  void load(const WeightBinder& w, std::int64_t in, std::int64_t out, int kernel, ops::Conv1dParams params);
  Tensor operator()(const Tensor& x) const;
};

// x [N, L, C]; see ops::group_norm for the extent of the statistics.
struct GroupNorm {
  Tensor weight, bias;  // [C]
  int groups = 32;
  float eps = 1e-5f;
  void load(const WeightBinder& w, int groups, std::int64_t channels, float eps);
  // x_bias, film: see ops::group_norm.
  Tensor operator()(const Tensor& x, ops::Activation act = ops::Activation::None, const Tensor* x_bias = nullptr,
                    const Tensor* film = nullptr) const;
};

struct LayerNorm {
  Tensor weight, bias;  // [C]
  float eps = 1e-5f;
  void load(const WeightBinder& w, std::int64_t channels, float eps = 1e-5f, HasBias has_bias = HasBias::Yes);
  Tensor operator()(const Tensor& x) const;
};

}  // namespace wma::nn
