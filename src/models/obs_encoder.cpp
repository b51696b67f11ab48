// MultiImageObsEncoder (multi_image_obs_encoder.py L18-247) with use_group_norm, imagenet_norm
// and use_spatial_softmax, one rgb key "image" and one low-dim key "agent_pos"; the ResNet18
// trunk is torchvision's (conv1, bn1, relu, maxpool, layer1..4) without avgpool/fc.
#include "models/obs_encoder.h"

#include <cmath>

namespace wma::models {
namespace {

using ops::Activation;

Tensor zeros_like_shape(const Shape& shape, const Tensor& like) {
  Tensor t = Tensor::empty(shape, like.dtype(), like.device());
  ops::fill(t, 0.0f);
  return t;
}

// Elementwise max for b >= 0 or a >= 0 inputs, from the op set: a + relu(b - a).
Tensor maximum(const Tensor& a, const Tensor& b) {
  return ops::add(a, ops::activation(ops::sub(b, a), Activation::ReLU));
}

// Max over windows {2i-1, 2i, 2i+1} along `dim` (kernel 3, stride 2, padding 1). The input
// follows a ReLU, so zero padding stands in for the -inf padding of MaxPool2d.
Tensor max_pool_axis(Tensor x, int dim) {
  if (x.size(dim) % 2 != 0) {
    Shape pad = x.shape();
    pad[dim] = 1;
    x = ops::concat({x, zeros_like_shape(pad, x)}, dim);
  }
  const std::int64_t half = x.size(dim) / 2;
  Shape pairs = x.shape();
  pairs[dim] = half;
  pairs.insert(pairs.begin() + dim + 1, 2);
  const Tensor p = ops::contiguous(x).reshape(pairs);
  const Tensor even = p.select(dim + 1, 0), odd = p.select(dim + 1, 1);
  Shape first = even.shape();
  first[dim] = 1;
  const Tensor odd_prev = half > 1 ? ops::concat({zeros_like_shape(first, x), odd.slice(dim, 0, half - 1)}, dim)
                                   : zeros_like_shape(first, x);
  return maximum(maximum(even, odd), odd_prev);
}

// torch MaxPool2d(3, 2, 1) of a non-negative x [N, H, W, C].
Tensor max_pool_3x3_s2(const Tensor& x) { return max_pool_axis(max_pool_axis(x, 1), 2); }

// GroupNorm on a channels-last image [N, H, W, C] (statistics per image).
Tensor group_norm_image(const nn::GroupNorm& gn, const Tensor& x) {
  const Shape s = x.shape();
  return gn(x.reshape({s[0], s[1] * s[2], s[3]})).reshape(s);
}

std::int64_t conv_out(std::int64_t n, int k, int stride, int pad) { return (n + 2 * pad - k) / stride + 1; }

// numpy.linspace(-1, 1, n) in float64 (i * step + start, last = stop), rounded to float32.
std::vector<float> linspace_pm1(std::int64_t n) {
  std::vector<float> v(static_cast<std::size_t>(n));
  const double step = n > 1 ? 2.0 / static_cast<double>(n - 1) : 0.0;
  for (std::int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(static_cast<double>(i) * step - 1.0);
  if (n > 1) v[n - 1] = 1.0f;
  return v;
}

Tensor on_device(Tensor t, const nn::LoadOptions& o) {
  t = ops::cast(t, o.dtype);
  return o.device == Device::CPU ? t : ops::to_device(t, o.device);
}

}  // namespace

void SpatialSoftmax::load(const nn::WeightBinder& w, std::int64_t channels, std::int64_t num_kp, std::int64_t height,
                          std::int64_t width) {
  num_kp_ = num_kp;
  height_ = height;
  width_ = width;
  nets_.load(w.child("nets"), channels, num_kp, 1, {});
  const std::vector<float> xs = linspace_pm1(width), ys = linspace_pm1(height);
  std::vector<float> pos(static_cast<std::size_t>(2 * height * width));
  for (std::int64_t i = 0; i < height; ++i)
    for (std::int64_t j = 0; j < width; ++j) {
      pos[2 * (i * width + j)] = xs[j];
      pos[2 * (i * width + j) + 1] = ys[i];
    }
  // Buffers: checked against the checkpoint when it has them, never taken from it.
  auto check_buffer = [&](const char* name, const Shape& shape, auto expected_at) {
    if (!w.has(name)) return;
    const std::vector<float> got = w.take_host_f32(name, shape).to_floats();
    for (std::size_t i = 0; i < got.size(); ++i)
      WMA_CHECK(got[i] == expected_at(i), "[SpatialSoftmax] ", w.prefix(), name, "[", i, "] = ", got[i],
                " differs from the value this engine computes (", expected_at(i), ")");
  };
  check_buffer("pos_x", {1, height * width}, [&](std::size_t i) { return pos[2 * i]; });
  check_buffer("pos_y", {1, height * width}, [&](std::size_t i) { return pos[2 * i + 1]; });
  check_buffer("temperature", {1}, [](std::size_t) { return 1.0f; });
  pos_ = on_device(Tensor::from_floats({1, height * width, 2}, pos), w.options());
}

Tensor SpatialSoftmax::operator()(const Tensor& feature) const {
  WMA_CHECK(feature.dim() == 4 && feature.size(1) == height_ && feature.size(2) == width_,
            "[SpatialSoftmax] expected a feature [N, ", height_, ", ", width_, ", C], got ", feature.describe());
  const std::int64_t n = feature.size(0), hw = height_ * width_;
  // One spatial distribution per keypoint over the h*w positions (temperature 1), read channels-last.
  const Tensor logits = nets_(feature).reshape({n, hw, num_kp_});
  return ops::spatial_softmax(logits, pos_.reshape({hw, 2})).reshape({n, 2 * num_kp_});
}

void ObsEncoder::BasicBlock::load(const nn::WeightBinder& w, std::int64_t in, std::int64_t out, int stride) {
  conv1.load(w.child("conv1"), in, out, 3, {.stride = stride, .padding = 1}, nn::HasBias::No);
  bn1.load(w.child("bn1"), static_cast<int>(out / 16), out, 1e-5f);
  conv2.load(w.child("conv2"), out, out, 3, {.stride = 1, .padding = 1}, nn::HasBias::No);
  bn2.load(w.child("bn2"), static_cast<int>(out / 16), out, 1e-5f);
  has_downsample = stride != 1 || in != out;
  if (has_downsample) {
    downsample_conv.load(w.child("downsample").child("0"), in, out, 1, {.stride = stride, .padding = 0},
                         nn::HasBias::No);
    downsample_norm.load(w.child("downsample").child("1"), static_cast<int>(out / 16), out, 1e-5f);
  }
}

Tensor ObsEncoder::BasicBlock::operator()(const Tensor& x) const {
  const Tensor h = ops::activation(group_norm_image(bn1, conv1(x)), Activation::ReLU);
  const Tensor y = group_norm_image(bn2, conv2(h));
  const Tensor identity = has_downsample ? group_norm_image(downsample_norm, downsample_conv(x)) : x;
  return ops::activation(ops::add(y, identity), Activation::ReLU);
}

void ObsEncoder::load(const nn::WeightBinder& w, const ObsEncoderConfig& config) {
  config_ = config;
  const nn::WeightBinder trunk = w.child("key_model_map").child("image");
  conv1_.load(trunk.child("0"), 3, 64, 7, {.stride = 2, .padding = 3}, nn::HasBias::No);
  bn1_.load(trunk.child("1"), 4, 64, 1e-5f);
  blocks_.clear();
  std::int64_t in = 64;
  const std::int64_t widths[4] = {64, 128, 256, 512};
  for (int layer = 0; layer < 4; ++layer) {
    const nn::WeightBinder lw = trunk.child(std::to_string(4 + layer));  // Sequential index of layer1..4
    for (int b = 0; b < 2; ++b) {
      BasicBlock block;
      block.load(lw.child(std::to_string(b)), b == 0 ? in : widths[layer], widths[layer], b == 0 && layer > 0 ? 2 : 1);
      blocks_.push_back(std::move(block));
    }
    in = widths[layer];
  }
  std::int64_t h = conv_out(config.image_height, 7, 2, 3), wd = conv_out(config.image_width, 7, 2, 3);
  h = conv_out(h, 3, 2, 1), wd = conv_out(wd, 3, 2, 1);  // maxpool
  for (int layer = 1; layer < 4; ++layer) h = conv_out(h, 3, 2, 1), wd = conv_out(wd, 3, 2, 1);
  spatial_softmax_.load(w.child("spatial_softmax"), 512, config.num_kp, h, wd);
  w.ignore("_dummy_variable");  // ModuleAttrMixin's empty parameter

  // torchvision Normalize with float32 statistics; x / std becomes x * (1 / std).
  const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
  mean_ = on_device(Tensor::from_floats({3}, {mean[0], mean[1], mean[2]}), w.options());
  inv_std_ = on_device(Tensor::from_floats({3}, {1.0f / stdv[0], 1.0f / stdv[1], 1.0f / stdv[2]}), w.options());
}

Tensor ObsEncoder::operator()(const Tensor& images, const Tensor& agent_pos) const {
  WMA_CHECK(images.dim() == 4 && images.size(1) == config_.image_height && images.size(2) == config_.image_width &&
                images.size(3) == 3,
            "[ObsEncoder] expected images [N, ", config_.image_height, ", ", config_.image_width, ", 3], got ",
            images.describe());
  WMA_CHECK(agent_pos.dim() == 2 && agent_pos.size(0) == images.size(0) && agent_pos.size(1) == config_.low_dim,
            "[ObsEncoder] expected agent_pos [", images.size(0), ", ", config_.low_dim, "], got ",
            agent_pos.describe());
  // Upstream applies ImageNet statistics to [-1, 1] images as if they were [0, 1]; kept as is.
  Tensor x = ops::mul(ops::sub(images, mean_), inv_std_);
  x = ops::activation(group_norm_image(bn1_, conv1_(x)), Activation::ReLU);
  x = max_pool_3x3_s2(x);
  for (const auto& block : blocks_) x = block(x);
  return ops::concat({spatial_softmax_(x), ops::cast(agent_pos, x.dtype())}, 1);
}

}  // namespace wma::models
