#include "pipeline/image_preprocess.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace wma::pipeline {
namespace {

struct Taps {
  std::vector<std::int64_t> start;
  std::vector<std::int64_t> count;
  std::vector<float> weights;  // `width` per output
  std::int64_t width = 0;
};

// Torch's compiled loop fuses the accumulation into multiply-adds when an output has at
// most 4 taps and not beyond (found by bit-exact comparison with torch 2.x on x86-64); the
// 480x640 -> 320x426 observation resize has 2 to 4 taps per output.
float weighted_sum(const float* in, std::int64_t step, const float* w, std::int64_t taps) {
  float acc = in[0] * w[0];
  if (taps <= 4) {
    for (std::int64_t j = 1; j < taps; ++j) acc = std::fma(in[j * step], w[j], acc);
  } else {
    for (std::int64_t j = 1; j < taps; ++j) acc += in[j * step] * w[j];
  }
  return acc;
}

float triangle(float x) {
  if (x < 0.0f) x = -x;
  return x < 1.0f ? static_cast<float>(1.0 - x) : 0.0f;
}

// The float/double promotions below mirror ATen's compute_indices_min_size_weights_aa
// so the weights round exactly as torch's do.
Taps compute_taps(std::int64_t in_size, std::int64_t out_size) {
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  const float support = scale >= 1.0f ? static_cast<float>(2 * 0.5 * scale) : 1.0f;
  const float invscale = scale >= 1.0f ? static_cast<float>(1.0 / scale) : 1.0f;
  Taps taps;
  taps.width = static_cast<std::int64_t>(std::ceil(support)) * 2 + 1;
  taps.start.resize(out_size);
  taps.count.resize(out_size);
  taps.weights.assign(out_size * taps.width, 0.0f);
  for (std::int64_t i = 0; i < out_size; ++i) {
    const float center = static_cast<float>(scale * (i + 0.5));
    const std::int64_t xmin = std::max(static_cast<std::int64_t>(center - support + 0.5), std::int64_t{0});
    const std::int64_t xsize = std::min(static_cast<std::int64_t>(center + support + 0.5), in_size) - xmin;
    float* w = &taps.weights[i * taps.width];
    float total = 0.0f;
    for (std::int64_t j = 0; j < xsize; ++j) {
      const float arg = static_cast<float>((static_cast<float>(j + xmin) - center + 0.5) * invscale);
      w[j] = triangle(arg);
      total += w[j];
    }
    if (total != 0.0f)
      for (std::int64_t j = 0; j < xsize; ++j) w[j] /= total;
    taps.start[i] = xmin;
    taps.count[i] = xsize;
  }
  return taps;
}

}  // namespace

Tensor resize_bilinear_antialias(const Tensor& x, std::int64_t out_h, std::int64_t out_w) {
  WMA_CHECK(x.dim() == 3 && x.dtype() == DType::F32 && x.device() == Device::CPU,
            "[resize] expected a CPU f32 [C, H, W] image, got ", x.describe());
  WMA_CHECK(out_h > 0 && out_w > 0, "[resize] invalid output size ", out_h, "x", out_w);
  const std::int64_t c = x.size(0), h = x.size(1), w = x.size(2);
  std::vector<float> src = x.to_floats();
  // Width first, then height, as ATen's separable kernel does.
  std::vector<float> mid;
  std::int64_t mid_w = w;
  if (out_w != w) {
    const Taps taps = compute_taps(w, out_w);
    mid.assign(c * h * out_w, 0.0f);
    for (std::int64_t row = 0; row < c * h; ++row)
      for (std::int64_t o = 0; o < out_w; ++o) {
        mid[row * out_w + o] =
            weighted_sum(&src[row * w + taps.start[o]], 1, &taps.weights[o * taps.width], taps.count[o]);
      }
    mid_w = out_w;
  } else {
    mid = std::move(src);
  }
  std::vector<float> out;
  if (out_h != h) {
    const Taps taps = compute_taps(h, out_h);
    out.assign(c * out_h * mid_w, 0.0f);
    for (std::int64_t ch = 0; ch < c; ++ch)
      for (std::int64_t o = 0; o < out_h; ++o) {
        const float* wt = &taps.weights[o * taps.width];
        for (std::int64_t col = 0; col < mid_w; ++col)
          out[(ch * out_h + o) * mid_w + col] =
              weighted_sum(&mid[(ch * h + taps.start[o]) * mid_w + col], mid_w, wt, taps.count[o]);
      }
  } else {
    out = std::move(mid);
  }
  return Tensor::from_floats({c, out_h, out_w}, out);
}

Tensor resize_short_side(const Tensor& x, std::int64_t size) {
  WMA_CHECK(x.dim() == 3, "[resize] expected [C, H, W], got ", x.describe());
  const std::int64_t h = x.size(1), w = x.size(2);
  if (h <= w) return resize_bilinear_antialias(x, size, static_cast<std::int64_t>(size * w / h));
  return resize_bilinear_antialias(x, static_cast<std::int64_t>(size * h / w), size);
}

Tensor center_crop(const Tensor& x, std::int64_t crop_h, std::int64_t crop_w) {
  WMA_CHECK(x.dim() == 3 && x.dtype() == DType::F32 && x.device() == Device::CPU,
            "[center_crop] expected a CPU f32 [C, H, W] image, got ", x.describe());
  const std::int64_t c = x.size(0), h = x.size(1), w = x.size(2);
  // As torchvision: padding puts the smaller half left/top; the crop offset rounds half
  // to even (Python round()).
  const std::int64_t pad_top = crop_h > h ? (crop_h - h) / 2 : 0;
  const std::int64_t pad_left = crop_w > w ? (crop_w - w) / 2 : 0;
  const std::int64_t ph = std::max(h, crop_h), pw = std::max(w, crop_w);
  const std::int64_t top = static_cast<std::int64_t>(std::nearbyint((ph - crop_h) / 2.0));
  const std::int64_t left = static_cast<std::int64_t>(std::nearbyint((pw - crop_w) / 2.0));
  const std::vector<float> src = x.to_floats();
  std::vector<float> out(c * crop_h * crop_w, 0.0f);
  for (std::int64_t ch = 0; ch < c; ++ch)
    for (std::int64_t i = 0; i < crop_h; ++i)
      for (std::int64_t j = 0; j < crop_w; ++j) {
        const std::int64_t si = i + top - pad_top, sj = j + left - pad_left;
        if (si >= 0 && si < h && sj >= 0 && sj < w) out[(ch * crop_h + i) * crop_w + j] = src[(ch * h + si) * w + sj];
      }
  return Tensor::from_floats({c, crop_h, crop_w}, out);
}

Tensor prepare_observation_image(const Tensor& rgb8, std::int64_t height, std::int64_t width) {
  WMA_CHECK(rgb8.dim() == 3 && rgb8.size(2) == 3, "[image] expected RGB pixels [H, W, 3], got ", rgb8.describe());
  Tensor chw = Tensor::from_floats({rgb8.size(0), rgb8.size(1), 3}, rgb8.to_floats()).permute({2, 0, 1});
  return prepare_observation_planar(Tensor::from_floats({3, rgb8.size(0), rgb8.size(1)}, chw.to_floats()), height,
                                    width, ResizedPixels::Float);
}

Tensor prepare_observation_planar(const Tensor& planar, std::int64_t height, std::int64_t width,
                                  ResizedPixels pixels) {
  WMA_CHECK(planar.dim() == 3 && planar.size(0) == 3, "[image] expected planar RGB [3, H, W], got ", planar.describe());
  Tensor resized = resize_short_side(planar, height);
  if (pixels == ResizedPixels::RoundedToInteger) {
    std::vector<float> v = resized.to_floats();
    for (float& p : v) p = std::nearbyint(p);
    resized = Tensor::from_floats(resized.shape(), v);
  }
  Tensor cropped = center_crop(resized, height, width);
  std::vector<float> v = cropped.to_floats();
  for (float& p : v) p = (p / 255.0f - 0.5f) * 2.0f;
  return Tensor::from_floats(cropped.shape(), v);
}

}  // namespace wma::pipeline
