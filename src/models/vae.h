// first_stage_model: upstream's AutoencoderKL (models/autoencoder.py; Encoder, Decoder,
// ResnetBlock, AttnBlock in modules/networks/ae_modules.py; DiagonalGaussianDistribution in
// utils/distributions.py) plus LatentVisualDiffusion's scale_factor handling (models/ddpms.py).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/yaml.h"
#include "nn/layers.h"

namespace wma::models {

// Fields of upstream's `first_stage_config.params.ddconfig`, plus `embed_dim` (first_stage_config.params)
// and `scale_factor` (model.params). Defaults are UnifoLM-WMA-0's.
struct AutoencoderKLConfig {
  int ch = 128;
  std::vector<int> ch_mult = {1, 2, 4, 4};
  int num_res_blocks = 2;
  // Compared against the running resolution, which starts at `resolution` (encoder) or
  // resolution / 2^(levels-1) (decoder); the mid block always has one attention.
  std::vector<int> attn_resolutions = {};
  int resolution = 256;
  int in_channels = 3;
  int out_ch = 3;
  int z_channels = 4;
  bool double_z = true;
  int embed_dim = 4;
  double scale_factor = 0.18215;

  // From `first_stage_config.params` (ddconfig and embed_dim); scale_factor lives in
  // `model.params`, so the caller passes it (WmaConfig::from_yaml does).
  static AutoencoderKLConfig from_yaml(const io::YamlNode& first_stage_params, double scale_factor = 0.18215);
};

// The posterior; all tensors [N, h, w, embed_dim], f32.
struct DiagonalGaussian {
  Tensor mean;
  Tensor logvar;  // clamped to [-30, 20] as upstream does
  Tensor std;     // exp(0.5 * logvar)
  // mean + std * noise; noise [N, h, w, embed_dim] (channels-last: a torch.randn [N, embed_dim, h, w]
  // draw permuted to NHWC).
  Tensor sample(const Tensor& noise) const;
};

class AutoencoderKL {
 public:
  // Loads every key under `prefix` strictly (throws listing missing, mis-shaped and unexpected keys).
  AutoencoderKL(const io::WeightStore& store, const AutoencoderKLConfig& config, const nn::LoadOptions& options = {},
                const std::string& prefix = "first_stage_model.");
  ~AutoencoderKL();
  AutoencoderKL(AutoencoderKL&&) noexcept;
  AutoencoderKL& operator=(AutoencoderKL&&) noexcept;

  const AutoencoderKLConfig& config() const { return config_; }
  // AutoencoderKL.encode: x [N, H, W, in_channels] in [-1, 1] -> posterior of quant_conv(encoder(x)).
  DiagonalGaussian encode(const Tensor& x) const;
  // AutoencoderKL.decode: z [N, h, w, embed_dim] (unscaled) -> decoder(post_quant_conv(z)) [N, H, W, out_ch],
  // neither clamped nor squashed.
  Tensor decode(const Tensor& z) const;

  // LatentVisualDiffusion.encode_first_stage: scale_factor * posterior sample. x [N, H, W, C] or video
  // [B, T, H, W, C] (frames folded as (b t)); noise has the latent shape. `frames_per_call` frames go
  // through the encoder at once (1 = upstream's perframe_ae, 0 = all); the result does not depend on it.
  Tensor encode_first_stage(const Tensor& x, const Tensor& noise, std::int64_t frames_per_call = 1) const;
  // encode_first_stage's two halves, for a caller that samples the same frames more than once: the posterior of
  // x's frames (video folded to [(B T), h, w, embed_dim]), then scale_factor * its sample for `noise`, shaped as
  // `like` (x). encode_first_stage is exactly the one after the other.
  DiagonalGaussian encode_frames(const Tensor& x, std::int64_t frames_per_call = 1) const;
  Tensor sample_first_stage(const DiagonalGaussian& posterior, const Tensor& noise, const Tensor& like) const;
  // LatentVisualDiffusion.decode_core: decode(float32(1 / scale_factor) * z); same layouts and chunking.
  Tensor decode_first_stage(const Tensor& z, std::int64_t frames_per_call = 1) const;

 private:
  struct Encoder;
  struct Decoder;
  AutoencoderKLConfig config_;
  nn::LoadOptions options_;
  std::unique_ptr<Encoder> encoder_;
  std::unique_ptr<Decoder> decoder_;
  nn::Linear quant_conv_;       // 1x1 conv [2 * embed_dim, 2 * z_channels]
  nn::Linear post_quant_conv_;  // 1x1 conv [z_channels, embed_dim]
};

}  // namespace wma::models
