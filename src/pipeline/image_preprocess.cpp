#include "pipeline/image_preprocess.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

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

Tensor prepare_observation_planar(const Tensor& planar, std::int64_t height, std::int64_t width, ResizedPixels pixels) {
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

namespace {

constexpr int kPilPrecisionBits = 32 - 8 - 2;

// One output's source range and fixed-point weights (Pillow's precompute_coeffs + normalize_coeffs_8bpc).
struct PilTaps {
  std::vector<int> start, count;
  std::vector<std::int32_t> weights;  // `width` per output
  int width = 0;
};

PilTaps pil_bilinear_taps(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;
  PilTaps taps;
  taps.width = static_cast<int>(std::ceil(support)) * 2 + 1;
  taps.weights.assign(static_cast<std::size_t>(out_size) * taps.width, 0);
  std::vector<double> k(taps.width);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    const int xmax = std::min(static_cast<int>(center + support + 0.5), in_size) - xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      double d = (x + xmin - center + 0.5) * (1.0 / filterscale);
      if (d < 0.0) d = -d;
      k[x] = d < 1.0 ? 1.0 - d : 0.0;
      ww += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double w = ww != 0.0 ? k[x] / ww : k[x];
      const double fixed = w * (1 << kPilPrecisionBits);
      taps.weights[static_cast<std::size_t>(xx) * taps.width + x] =
          static_cast<std::int32_t>(w < 0 ? -0.5 + fixed : 0.5 + fixed);
    }
    taps.start.push_back(xmin);
    taps.count.push_back(xmax);
  }
  return taps;
}

std::uint8_t pil_clip8(std::int32_t acc) {
  return static_cast<std::uint8_t>(std::clamp(acc >> kPilPrecisionBits, 0, 255));
}

// One pass of Pillow's ImagingResample{Horizontal,Vertical}_8bpc over an interleaved RGB picture.
io::Rgb8Image pil_pass(const io::Rgb8Image& in, int out_width, int out_height, bool horizontal) {
  const int in_size = horizontal ? in.width : in.height, out_size = horizontal ? out_width : out_height;
  const PilTaps taps = pil_bilinear_taps(in_size, out_size);
  io::Rgb8Image out{out_width, out_height,
                    std::vector<std::uint8_t>(static_cast<std::size_t>(out_width) * out_height * 3)};
  for (int y = 0; y < out_height; ++y)
    for (int x = 0; x < out_width; ++x) {
      const int o = horizontal ? x : y;
      const std::int32_t* w = &taps.weights[static_cast<std::size_t>(o) * taps.width];
      for (int c = 0; c < 3; ++c) {
        std::int32_t acc = 1 << (kPilPrecisionBits - 1);
        for (int j = 0; j < taps.count[o]; ++j) {
          const int sx = horizontal ? taps.start[o] + j : x, sy = horizontal ? y : taps.start[o] + j;
          acc += static_cast<std::int32_t>(in.pixels[(static_cast<std::size_t>(sy) * in.width + sx) * 3 + c]) * w[j];
        }
        out.pixels[(static_cast<std::size_t>(y) * out_width + x) * 3 + c] = pil_clip8(acc);
      }
    }
  return out;
}

}  // namespace

io::Rgb8Image resize_pil_bilinear(const io::Rgb8Image& image, int out_width, int out_height) {
  WMA_CHECK(image.width > 0 && image.height > 0 && out_width > 0 && out_height > 0 &&
                image.pixels.size() == static_cast<std::size_t>(image.width) * image.height * 3,
            "[resize] cannot resize a ", image.width, "x", image.height, " picture to ", out_width, "x", out_height);
  io::Rgb8Image out = image;
  if (out_width != image.width) out = pil_pass(out, out_width, out.height, true);
  if (out_height != image.height) out = pil_pass(out, out_width, out_height, false);
  return out;
}

Tensor prepare_prompt_image(const io::Rgb8Image& image, std::int64_t height, std::int64_t width) {
  // torchvision Resize(size) of an int: the short side becomes `size`, the long side int(size * long / short).
  const std::int64_t size = std::min(height, width);
  const std::int64_t h = image.height, w = image.width;
  const std::int64_t out_h = h <= w ? size : size * h / w, out_w = h <= w ? size * w / h : size;
  const io::Rgb8Image resized =
      out_h == h && out_w == w ? image : resize_pil_bilinear(image, static_cast<int>(out_w), static_cast<int>(out_h));
  std::vector<float> planar(resized.pixels.size());
  const std::size_t plane = static_cast<std::size_t>(resized.width) * resized.height;
  for (std::size_t i = 0; i < plane; ++i)
    for (std::size_t c = 0; c < 3; ++c) planar[c * plane + i] = resized.pixels[i * 3 + c];
  const Tensor cropped = center_crop(Tensor::from_floats({3, resized.height, resized.width}, planar), height, width);
  std::vector<float> v = cropped.to_floats();
  for (float& p : v) p = (p / 255.0f - 0.5f) / 0.5f;
  return Tensor::from_floats(cropped.shape(), v);
}

}  // namespace wma::pipeline
