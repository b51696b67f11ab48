// Saving videos as upstream does (torchvision.io.write_video: H.264 in mp4, crf given,
// yuv420p) through libav when the build has it; otherwise each frame becomes a PNG in a
// folder next to the requested path, and the caller is told which one was written.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/png.h"

namespace wma::io {

bool mp4_available();

// f32 video [3, T, H, W] in [-1, 1] -> T RGB8 frames: clamp to [-1, 1], (x + 1) / 2 * 255,
// truncated to uint8 (upstream's save_results).
std::vector<Rgb8Image> video_to_frames(const Tensor& video);

struct VideoOptions {
  int fps = 8;
  int crf = 10;
};

// Returns the path actually written: `path` (mp4) or `<path minus .mp4>_frames/` (PNGs).
// The mp4 is written to a temporary file and renamed at the end.
std::string write_video(const std::string& path, const std::vector<Rgb8Image>& frames, const VideoOptions& options);

}  // namespace wma::io
