// Upstream's observation image pipeline (docs/upstream.md#observation-image-pipeline): torchvision Resize(short side)
// with antialiased bilinear on float data, CenterCrop (zero-padding when the crop is larger),
// then (x / 255 - 0.5) * 2. Reproduces ATen's _upsample_bilinear2d_aa on the CPU in float32.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "io/png.h"

namespace wma::pipeline {

// x f32 [C, H, W] -> [C, out_h, out_w], ATen's antialiased bilinear (align_corners false).
Tensor resize_bilinear_antialias(const Tensor& x, std::int64_t out_h, std::int64_t out_w);

// torchvision Resize(size) for an int: the short side becomes `size`, the long side
// int(size * long / short).
Tensor resize_short_side(const Tensor& x, std::int64_t size);

// torchvision CenterCrop((h, w)): zero-pads first when the image is smaller, then crops.
Tensor center_crop(const Tensor& x, std::int64_t h, std::int64_t w);

// What torchvision keeps of the resized pixels: the interaction script resizes float images; the server
// resizes the request's integer tensor, which torchvision rounds (half to even) back to integers.
enum class ResizedPixels { Float, RoundedToInteger };

// RGB8 pixels [H, W, 3] -> f32 [3, height, width] in [-1, 1], as upstream prepares an
// observation frame (Resize(height) -> CenterCrop((height, width)) -> (x/255 - 0.5) * 2).
Tensor prepare_observation_image(const Tensor& rgb8, std::int64_t height, std::int64_t width);

// The same from planar pixel values f32 [3, H, W] (0..255), as upstream's server receives them.
Tensor prepare_observation_planar(const Tensor& planar, std::int64_t height, std::int64_t width, ResizedPixels pixels);
// PIL's Image.resize(size, BILINEAR) of 8-bit RGB pixels, as torchvision's Resize does it for PIL images
// (Pillow's Resample.c): float64 triangle weights widened by the downscale factor, normalised and quantised to
// 22-bit fixed point, a horizontal pass then a vertical one, each rounding and clipping to uint8; a pass whose
// size does not change is skipped.
io::Rgb8Image resize_pil_bilinear(const io::Rgb8Image& image, int out_width, int out_height);

// The base model's prompt image (scripts/evaluation/base_model_inference.py load_data_prompts): PIL
// Resize(min(height, width)) of the short side (nothing when it has that size already), CenterCrop((height,
// width)) with zero padding, ToTensor, Normalize(0.5, 0.5). -> f32 [3, height, width] in [-1, 1].
Tensor prepare_prompt_image(const io::Rgb8Image& image, std::int64_t height, std::int64_t width);

}  // namespace wma::pipeline
