#include "models/clip_vision.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace wma::models {
namespace {

// kornia get_gaussian_kernel1d in f32: exp(-x^2 / (2 sigma^2)) normalised to sum 1, x centred on ks / 2.
std::vector<float> gaussian_kernel(int ks, float sigma) {
  std::vector<float> k(static_cast<std::size_t>(ks));
  const float denom = 2.0f * (sigma * sigma);
  float sum = 0.0f;
  for (int i = 0; i < ks; ++i) {
    const float x = static_cast<float>(i) - static_cast<float>(ks / 2);
    k[i] = std::exp(-(x * x) / denom);
    sum += k[i];
  }
  for (float& v : k) v /= sum;
  return k;
}

// torch 'reflect' padding: mirror without repeating the edge.
std::int64_t reflect(std::int64_t i, std::int64_t n) {
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

// Depthwise 1-D correlation along `axis` (1 = H, 2 = W) of a [N, H, W, C] host image, reflect padded.
std::vector<float> blur_axis(const std::vector<float>& src, const Shape& s, int axis, const std::vector<float>& k) {
  const std::int64_t n = s[0], h = s[1], w = s[2], c = s[3];
  const std::int64_t half = static_cast<std::int64_t>(k.size()) / 2;
  std::vector<float> dst(src.size());
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x)
        for (std::int64_t ch = 0; ch < c; ++ch) {
          float acc = 0.0f;
          for (std::size_t j = 0; j < k.size(); ++j) {
            const std::int64_t off = static_cast<std::int64_t>(j) - half;
            const std::int64_t yy = axis == 1 ? reflect(y + off, h) : y;
            const std::int64_t xx = axis == 2 ? reflect(x + off, w) : x;
            acc += k[j] * src[((b * h + yy) * w + xx) * c + ch];
          }
          dst[((b * h + y) * w + x) * c + ch] = acc;
        }
  return dst;
}

// torch's bicubic taps (A = -0.75, align_corners=True): the four clamped source indices and
// their weights for every output position.
struct CubicTaps {
  std::vector<std::array<std::int64_t, 4>> index;
  std::vector<std::array<float, 4>> weight;
};

CubicTaps cubic_taps(std::int64_t in, std::int64_t out) {
  constexpr float a = -0.75f;
  auto near = [](float x) { return ((a + 2.0f) * x - (a + 3.0f)) * x * x + 1.0f; };
  auto far = [](float x) { return ((a * x - 5.0f * a) * x + 8.0f * a) * x - 4.0f * a; };
  const float scale = out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.0f;
  CubicTaps taps;
  taps.index.resize(static_cast<std::size_t>(out));
  taps.weight.resize(static_cast<std::size_t>(out));
  for (std::int64_t o = 0; o < out; ++o) {
    const float real = scale * static_cast<float>(o);
    const std::int64_t base = std::min(static_cast<std::int64_t>(std::floor(real)), in - 1);
    const float t = std::clamp(real - static_cast<float>(base), 0.0f, 1.0f);
    taps.weight[o] = {far(t + 1.0f), near(t), near(1.0f - t), far(2.0f - t)};
    for (int j = 0; j < 4; ++j) taps.index[o][j] = std::clamp<std::int64_t>(base - 1 + j, 0, in - 1);
  }
  return taps;
}

}  // namespace

Tensor clip_preprocess(const Tensor& image, int size) {
  WMA_CHECK(image.dim() == 4 && image.size(3) == 3, "[clip_preprocess] expected an image [N, H, W, 3], got ",
            shape_str(image.shape()));
  const Tensor host = ops::contiguous(ops::to_device(ops::cast(image, DType::F32), Device::CPU));
  const Shape s = host.shape();
  const std::int64_t n = s[0], h = s[1], w = s[2], c = s[3];
  std::vector<float> px = host.to_floats();
  if (h != size || w != size) {
    // kornia blurs before downscaling: sigma = (factor - 1) / 2 (at least 0.001), kernel size
    // int(max(4 sigma, 3)) made odd; along W first, then H.
    const double fy = static_cast<double>(h) / size, fx = static_cast<double>(w) / size;
    if (std::max(fy, fx) > 1.0) {
      const double sy = std::max((fy - 1.0) / 2.0, 0.001), sx = std::max((fx - 1.0) / 2.0, 0.001);
      auto odd_size = [](double sigma) {
        const int ks = static_cast<int>(std::max(2.0 * 2.0 * sigma, 3.0));
        return ks % 2 == 0 ? ks + 1 : ks;
      };
      px = blur_axis(px, s, 2, gaussian_kernel(odd_size(sx), static_cast<float>(sx)));
      px = blur_axis(px, s, 1, gaussian_kernel(odd_size(sy), static_cast<float>(sy)));
    }
    const CubicTaps ty = cubic_taps(h, size), tx = cubic_taps(w, size);
    std::vector<float> out(static_cast<std::size_t>(n * size * size * c));
    for (std::int64_t b = 0; b < n; ++b)
      for (int oy = 0; oy < size; ++oy)
        for (int ox = 0; ox < size; ++ox)
          for (std::int64_t ch = 0; ch < c; ++ch) {
            // Rows first (along W), then their weighted sum along H, as torch's separable loop does.
            float acc = 0.0f;
            for (int i = 0; i < 4; ++i) {
              const float* row = px.data() + (b * h + ty.index[oy][i]) * w * c + ch;
              float r = 0.0f;
              for (int j = 0; j < 4; ++j) r += tx.weight[ox][j] * row[tx.index[ox][j] * c];
              acc += r * ty.weight[oy][i];
            }
            out[((b * size + oy) * size + ox) * c + ch] = acc;
          }
    px = std::move(out);
  }
  constexpr std::array<float, 3> mean = {0.48145466f, 0.4578275f, 0.40821073f};
  constexpr std::array<float, 3> stdev = {0.26862954f, 0.26130258f, 0.27577711f};
  for (std::size_t i = 0; i < px.size(); ++i) {
    const std::size_t ch = i % 3;
    px[i] = ((px[i] + 1.0f) / 2.0f - mean[ch]) / stdev[ch];
  }
  return Tensor::from_floats({n, size, size, c}, px);
}

void OpenClipResidualBlock::load(const nn::WeightBinder& w, std::int64_t width, int n_heads, std::int64_t mlp_width) {
  heads = n_heads;
  ln_1.load(w.child("ln_1"), width);
  const nn::WeightBinder attn = w.child("attn");
  in_proj.weight = attn.take("in_proj_weight", {3 * width, width});
  in_proj.bias = attn.take("in_proj_bias", {3 * width});
  out_proj.load(attn.child("out_proj"), width, width);
  ln_2.load(w.child("ln_2"), width);
  c_fc.load(w.child("mlp").child("c_fc"), width, mlp_width);
  c_proj.load(w.child("mlp").child("c_proj"), mlp_width, width);
}

Tensor OpenClipResidualBlock::operator()(const Tensor& x, const Tensor* mask) const {
  const std::int64_t n = x.size(0), l = x.size(1), width = x.size(2), d = width / heads;
  const Tensor qkv = in_proj(ln_1(x)).reshape({n, l, 3, heads, d});
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  const Tensor o = ops::attention(qkv.select(2, 0), qkv.select(2, 1), qkv.select(2, 2), mask, scale);
  const Tensor h = out_proj(ops::contiguous(o).reshape({n, l, width}), {.residual = &x});
  return c_proj(c_fc(ln_2(h), {.act = ops::Activation::GELU}), {.residual = &h});
}

ClipImageEmbedder::ClipImageEmbedder(const io::WeightStore& store, const ClipVisionConfig& config,
                                     const nn::LoadOptions& options, const std::string& prefix)
    : config_(config), options_(options) {
  WMA_CHECK(config.image_size % config.patch_size == 0 && config.width % config.heads == 0,
            "[ClipImageEmbedder] image_size ", config.image_size, " / patch ", config.patch_size, " or width ",
            config.width, " / heads ", config.heads, " is not whole");
  const nn::WeightBinder root(store, prefix, options);
  const nn::WeightBinder w = root.child("visual");
  const std::int64_t width = config.width;
  conv1_.load(w.child("conv1"), 3, width, config.patch_size, {.stride = config.patch_size, .padding = 0},
              nn::HasBias::No);
  class_embedding_ = w.take("class_embedding", {width});
  positional_embedding_ = w.take("positional_embedding", {config.tokens(), width});
  ln_pre_.load(w.child("ln_pre"), width);
  const auto mlp_width = static_cast<std::int64_t>(static_cast<double>(width) * config.mlp_ratio);
  blocks_.resize(static_cast<std::size_t>(config.layers));
  for (int i = 0; i < config.layers; ++i)
    blocks_[i].load(w.child("transformer").child("resblocks").child(std::to_string(i)), width, config.heads, mlp_width);
  // Present in upstream's checkpoint but never used by this embedder.
  w.ignore_subtree("ln_post");
  w.ignore("proj");
  for (const char* name : {"token_embedding", "ln_final"}) root.ignore_subtree(name);
  for (const char* name : {"positional_embedding", "text_projection", "logit_scale"}) root.ignore(name);
  root.finish("ClipImageEmbedder");
}

Tensor ClipImageEmbedder::operator()(const Tensor& image) const {
  return encode_preprocessed(ops::to_device(clip_preprocess(image, config_.image_size), options_.device));
}

Tensor ClipImageEmbedder::encode_preprocessed(const Tensor& x) const {
  const std::int64_t n = x.size(0), width = config_.width;
  const Tensor patches = conv1_(ops::cast(x, options_.dtype));  // [N, grid, grid, width]
  const Tensor cls = ops::repeat(class_embedding_.reshape({1, 1, width}), 0, n);
  const Tensor tokens = ops::concat({cls, patches.reshape({n, patches.size(1) * patches.size(2), width})}, 1);
  Tensor h = ln_pre_(ops::add(tokens, positional_embedding_));
  for (const OpenClipResidualBlock& block : blocks_) h = block(h);
  return h;
}

const io::YamlNode* open_clip_arch(const io::YamlNode& params, const io::YamlNode* open_clip_configs) {
  const std::string arch = params.get_string("arch", "ViT-H-14");
  if (open_clip_configs)
    if (const io::YamlNode* found = open_clip_configs->find(arch)) return found;
  WMA_CHECK(arch == "ViT-H-14", "[config] ", params.path(), ".arch '", arch,
            "' is neither ViT-H-14 nor listed under open_clip_model_configs");
  return nullptr;
}

ClipVisionConfig ClipVisionConfig::from_yaml(const io::YamlNode& params, const io::YamlNode* open_clip_configs) {
  ClipVisionConfig c;  // defaults are ViT-H-14's
  const io::YamlNode* arch = open_clip_arch(params, open_clip_configs);
  if (!arch) return c;
  const io::YamlNode& v = (*arch)["vision_cfg"];
  c.image_size = static_cast<int>(v.get_int("image_size", c.image_size));
  c.patch_size = static_cast<int>(v.get_int("patch_size", c.patch_size));
  c.width = static_cast<int>(v.get_int("width", c.width));
  c.layers = static_cast<int>(v.get_int("layers", c.layers));
  c.heads = c.width / static_cast<int>(v.get_int("head_width", 64));  // open_clip's default head_width
  c.mlp_ratio = v.get_double("mlp_ratio", c.mlp_ratio);
  return c;
}

}  // namespace wma::models
