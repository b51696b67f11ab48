// The 1-D heads' observation encoder: upstream's MultiImageObsEncoder
// (models/diffusion_head/vision/multi_image_obs_encoder.py) as configured for UnifoLM-WMA-0 —
// torchvision ResNet18 with GroupNorm, spatial softmax keypoints, then the low-dim state —
// and robomimic's SpatialSoftmax (models/diffusion_head/base_nets.py L74-217).
#pragma once

#include <vector>

#include "nn/layers.h"

namespace wma::models {

// Conv1x1 -> softmax over the h*w positions per keypoint -> expected (x, y) on a [-1, 1] grid.
class SpatialSoftmax {
 public:
  // `w` at the module (e.g. "...spatial_softmax."); fixes the feature size the grid is built for.
  // The buffers pos_x, pos_y and temperature are computed here; when the checkpoint holds them
  // they are read and must agree (they are not parameters, deterministic stores lack them).
  void load(const nn::WeightBinder& w, std::int64_t channels, std::int64_t num_kp, std::int64_t height,
            std::int64_t width);
  // feature [N, h, w, C] -> [N, 2 * num_kp] as (x0, y0, x1, y1, ...).
  Tensor operator()(const Tensor& feature) const;

 private:
  nn::Conv2d nets_;
  Tensor pos_;  // [1, h*w, 2]: column 0 = pos_x, column 1 = pos_y
  std::int64_t num_kp_ = 0, height_ = 0, width_ = 0;
};

struct ObsEncoderConfig {
  std::int64_t image_height = 320;  // shape_meta obs.image (configs/train/meta.json)
  std::int64_t image_width = 512;
  std::int64_t low_dim = 16;  // shape_meta obs.agent_pos
  std::int64_t num_kp = 128;  // spatial_softmax_kp

  std::int64_t feature_dim() const { return 2 * num_kp + low_dim; }
};

class ObsEncoder {
 public:
  // `w` at "...obs_encoder.".
  void load(const nn::WeightBinder& w, const ObsEncoderConfig& config);
  const ObsEncoderConfig& config() const { return config_; }
  // images [N, H, W, 3] in [-1, 1], agent_pos [N, low_dim] -> [N, 2 * num_kp + low_dim].
  Tensor operator()(const Tensor& images, const Tensor& agent_pos) const;

 private:
  // torchvision BasicBlock with every BatchNorm2d replaced by GroupNorm(C / 16, C).
  struct BasicBlock {
    nn::Conv2d conv1, conv2, downsample_conv;
    nn::GroupNorm bn1, bn2, downsample_norm;
    bool has_downsample = false;
    void load(const nn::WeightBinder& w, std::int64_t in, std::int64_t out, int stride);
    Tensor operator()(const Tensor& x) const;
  };

  ObsEncoderConfig config_;
  Tensor mean_, inv_std_;  // [3] ImageNet statistics
  nn::Conv2d conv1_;
  nn::GroupNorm bn1_;
  std::vector<BasicBlock> blocks_;  // layer1..layer4, two blocks each
  SpatialSoftmax spatial_softmax_;
};

}  // namespace wma::models
