#include "nn/layers.h"

namespace wma::nn {
namespace {

const Tensor* opt(const Tensor& t) { return t.defined() ? &t : nullptr; }

}  // namespace

void Linear::load(const WeightBinder& w, std::int64_t in, std::int64_t out, HasBias has_bias) {
  weight = w.take("weight", {out, in});
  if (has_bias == HasBias::Yes) bias = w.take("bias", {out});
}

Tensor Linear::operator()(const Tensor& x, const ops::LinearEpilogue& epilogue) const {
  return ops::linear(x, weight, opt(bias), epilogue);
}

void Conv2d::load(const WeightBinder& w, std::int64_t in, std::int64_t out, int kernel, ops::Conv2dParams p,
                  HasBias has_bias) {
  params = p;
  weight = w.take_permuted("weight", {out, in, kernel, kernel}, {0, 2, 3, 1});
  if (has_bias == HasBias::Yes) bias = w.take("bias", {out});
}

Tensor Conv2d::operator()(const Tensor& x, const Tensor* residual) const {
  return ops::conv2d(x, weight, opt(bias), params, residual);
}

void ConvTemporal::load(const WeightBinder& w, std::int64_t in, std::int64_t out, int kernel, int pad) {
  padding = pad;
  weight = w.take_permuted("weight", {out, in, kernel, 1, 1}, {0, 2, 1, 3, 4}).reshape({out, kernel, in});
  bias = w.take("bias", {out});
}

Tensor ConvTemporal::operator()(const Tensor& x) const { return ops::conv_temporal(x, weight, opt(bias), padding); }

void Conv1d::load(const WeightBinder& w, std::int64_t in, std::int64_t out, int kernel, ops::Conv1dParams p,
                  HasBias has_bias) {
  params = p;
  weight = w.take_permuted("weight", {out, in, kernel}, {0, 2, 1});
  if (has_bias == HasBias::Yes) bias = w.take("bias", {out});
}

Tensor Conv1d::operator()(const Tensor& x) const { return ops::conv1d(x, weight, opt(bias), params); }

void ConvTranspose1d::load(const WeightBinder& w, std::int64_t in, std::int64_t out, int kernel, ops::Conv1dParams p) {
  params = p;
  weight = w.take_permuted("weight", {in, out, kernel}, {1, 2, 0});
  bias = w.take("bias", {out});
}

Tensor ConvTranspose1d::operator()(const Tensor& x) const {
  return ops::conv_transpose1d(x, weight, opt(bias), params);
}

void GroupNorm::load(const WeightBinder& w, int g, std::int64_t channels, float e) {
  groups = g;
  eps = e;
  weight = w.take("weight", {channels});
  bias = w.take("bias", {channels});
}

Tensor GroupNorm::operator()(const Tensor& x, ops::Activation act, const Tensor* x_bias, const Tensor* film) const {
  return ops::group_norm(x, groups, opt(weight), opt(bias), eps, act, x_bias, film);
}

void LayerNorm::load(const WeightBinder& w, std::int64_t channels, float e, HasBias has_bias) {
  eps = e;
  weight = w.take("weight", {channels});
  if (has_bias == HasBias::Yes) bias = w.take("bias", {channels});
}

Tensor LayerNorm::operator()(const Tensor& x) const { return ops::layer_norm(x, opt(weight), opt(bias), eps); }

}  // namespace wma::nn
