// The VAE decode of a video latent as upstream's decode_first_stage computes it (frame by frame with
// perframe_ae, else all frames in one call), with each call's decoder a replayed CUDA graph (graph_replay.h):
// a 16-frame decode is one eager frame, one captured frame and fourteen replays, and later videos of the same
// shape replay from their first frame. The frames' results are those of the eager decode, bit for bit.
#pragma once

#include <memory>

#include "core/device.h"
#include "core/tensor.h"
#include "models/vae.h"
#include "pipeline/graph_replay.h"

namespace wma::pipeline {

class VideoDecoder {
 public:
  // Graphs are used on CUDA while cuda_graphs_enabled() holds, asked at every decode.
  VideoDecoder(const models::AutoencoderKL& vae, Device device, bool per_frame);

  // latent [B, T, h, w, C] (any float dtype, on the device) -> [B, T, H, W, 3] raw decoder output; frames
  // [N, h, w, C] decode eagerly.
  Tensor operator()(const Tensor& latent);

 private:
  const models::AutoencoderKL& vae_;
  Device device_;
  bool per_frame_;
  std::unique_ptr<GraphReplay> graph_;  // for the chunk shape of chunk_in_; remade when it changes
  Tensor chunk_in_, chunk_out_;
};

}  // namespace wma::pipeline
