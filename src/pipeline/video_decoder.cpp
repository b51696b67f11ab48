#include "pipeline/video_decoder.h"

#include "ops/ops.h"

namespace wma::pipeline {
namespace {
// The decoder's largest activations at 320x512 are [1, 320, 512, 256] (84 MB in fp16, 168 MB in fp32).
constexpr std::size_t kPoolSlabBytes = std::size_t{256} << 20;
}  // namespace

VideoDecoder::VideoDecoder(const models::AutoencoderKL& vae, Device device, bool per_frame)
    : vae_(vae), device_(device), per_frame_(per_frame) {}

Tensor VideoDecoder::operator()(const Tensor& latent) {
  if (latent.dim() != 5 || device_ != Device::CUDA || !cuda_graphs_enabled()) {
    return vae_.decode_first_stage(latent, per_frame_ ? 1 : 0);
  }
  const Shape s = latent.shape();
  const std::int64_t frames = s[0] * s[1];
  const std::int64_t chunk = per_frame_ ? 1 : frames;
  const Tensor folded = ops::contiguous(latent).reshape({frames, s[2], s[3], s[4]});
  const Shape chunk_shape{chunk, s[2], s[3], s[4]};
  if (!chunk_in_.defined() || chunk_in_.shape() != chunk_shape || chunk_in_.dtype() != latent.dtype()) {
    chunk_out_ = {};
    graph_ = std::make_unique<GraphReplay>(device_, true, kPoolSlabBytes, "decode");
    chunk_in_ = Tensor::empty(chunk_shape, latent.dtype(), device_);
  }
  Tensor video;
  for (std::int64_t start = 0; start < frames; start += chunk) {
    ops::copy_into(chunk_in_, folded.slice(0, start, start + chunk));
    graph_->run([&] {
      chunk_out_ = {};
      chunk_out_ = vae_.decode_first_stage(chunk_in_, 0);  // the chunk in one call
    });
    if (!video.defined()) {
      Shape out_shape = chunk_out_.shape();
      out_shape[0] = frames;
      video = Tensor::empty(out_shape, chunk_out_.dtype(), device_);
    }
    ops::copy_into(video.slice(0, start, start + chunk), chunk_out_);
  }
  const Shape v = video.shape();
  return video.reshape({s[0], s[1], v[1], v[2], v[3]});
}

}  // namespace wma::pipeline
