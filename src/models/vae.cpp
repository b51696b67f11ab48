#include "models/vae.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace wma::models {
namespace {

constexpr int kGroups = 32;
constexpr float kNormEps = 1e-6f;  // the VAE's GroupNorm eps, unlike the UNet's 1e-5

// GroupNorm (+ activation) per image over H*W: x [N, H, W, C].
Tensor norm_image(const nn::GroupNorm& norm, const Tensor& x, ops::Activation act) {
  const Shape s = x.shape();
  return norm(ops::contiguous(x).reshape({s[0], s[1] * s[2], s[3]}), act).reshape(s);
}

// A 1x1 Conv2d is a Linear over channels; the weight [out, in, 1, 1] is kept as [out, in].
void load_conv1x1(nn::Linear& lin, const nn::WeightBinder& w, std::int64_t in, std::int64_t out) {
  lin.weight = w.take("weight", {out, in, 1, 1}).reshape({out, in});
  lin.bias = w.take("bias", {out});
}

struct ResnetBlock {
  nn::GroupNorm norm1, norm2;
  nn::Conv2d conv1, conv2;
  std::optional<nn::Linear> nin_shortcut;  // 1x1 conv when channels change

  void load(const nn::WeightBinder& w, std::int64_t in, std::int64_t out) {
    norm1.load(w.child("norm1"), kGroups, in, kNormEps);
    conv1.load(w.child("conv1"), in, out, 3, {.stride = 1, .padding = 1});
    norm2.load(w.child("norm2"), kGroups, out, kNormEps);
    conv2.load(w.child("conv2"), out, out, 3, {.stride = 1, .padding = 1});
    if (in != out) load_conv1x1(nin_shortcut.emplace(), w.child("nin_shortcut"), in, out);
  }

  // x [N, H, W, in] -> shortcut(x) + conv2(swish(norm2(conv1(swish(norm1(x)))))).
  Tensor operator()(const Tensor& x) const {
    const Tensor h = conv1(norm_image(norm1, x, ops::Activation::SiLU));
    const Tensor skip = nin_shortcut ? (*nin_shortcut)(x) : x;
    return conv2(norm_image(norm2, h, ops::Activation::SiLU), &skip);
  }
};

// Single-head self-attention over the H*W positions of each image, q/k/v/proj_out 1x1 convs.
struct AttnBlock {
  nn::GroupNorm norm;
  nn::Linear q, k, v, proj_out;
  std::int64_t channels = 0;

  void load(const nn::WeightBinder& w, std::int64_t c) {
    channels = c;
    norm.load(w.child("norm"), kGroups, c, kNormEps);
    load_conv1x1(q, w.child("q"), c, c);
    load_conv1x1(k, w.child("k"), c, c);
    load_conv1x1(v, w.child("v"), c, c);
    load_conv1x1(proj_out, w.child("proj_out"), c, c);
  }

  Tensor operator()(const Tensor& x) const {
    const Shape s = x.shape();  // [N, H, W, C]
    const Shape tokens = {s[0], s[1] * s[2], 1, s[3]};
    const Tensor h = norm_image(norm, x, ops::Activation::None);
    // Upstream multiplies the scores by int(c) ** -0.5, a Python double rounded to f32.
    const float scale = static_cast<float>(std::pow(static_cast<double>(channels), -0.5));
    const Tensor o = ops::attention(q(h).reshape(tokens), k(h).reshape(tokens), v(h).reshape(tokens), nullptr, scale);
    return proj_out(ops::contiguous(o).reshape(s), {.residual = &x});
  }
};

// Zero padding on the right and bottom only, then a stride-2 3x3 conv without padding.
struct Downsample {
  nn::Conv2d conv;

  void load(const nn::WeightBinder& w, std::int64_t c) {
    conv.load(w.child("conv"), c, c, 3, {.stride = 2, .padding = 0});
  }

  Tensor operator()(const Tensor& x) const {
    const Shape s = x.shape();  // [N, H, W, C]
    Tensor col = Tensor::empty({s[0], s[1], 1, s[3]}, x.dtype(), x.device());
    ops::fill(col, 0.0f);
    const Tensor wide = ops::concat({x, col}, 2);
    Tensor row = Tensor::empty({s[0], 1, s[2] + 1, s[3]}, x.dtype(), x.device());
    ops::fill(row, 0.0f);
    return conv(ops::concat({wide, row}, 1));
  }
};

struct Upsample {
  nn::Conv2d conv;

  void load(const nn::WeightBinder& w, std::int64_t c) {
    conv.load(w.child("conv"), c, c, 3, {.stride = 1, .padding = 1});
  }
  Tensor operator()(const Tensor& x) const { return conv(ops::upsample_nearest2x(x)); }
};

struct Level {
  std::vector<ResnetBlock> blocks;
  std::vector<AttnBlock> attns;  // empty, or one per block
  std::optional<Downsample> downsample;
  std::optional<Upsample> upsample;

  Tensor run_blocks(Tensor h) const {
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      h = blocks[i](h);
      if (!attns.empty()) h = attns[i](h);
    }
    return h;
  }
};

struct Mid {
  ResnetBlock block_1, block_2;
  AttnBlock attn_1;

  void load(const nn::WeightBinder& w, std::int64_t c) {
    block_1.load(w.child("block_1"), c, c);
    attn_1.load(w.child("attn_1"), c);
    block_2.load(w.child("block_2"), c, c);
  }
  Tensor operator()(const Tensor& x) const { return block_2(attn_1(block_1(x))); }
};

bool has_attention(const AutoencoderKLConfig& config, int resolution) {
  return std::find(config.attn_resolutions.begin(), config.attn_resolutions.end(), resolution) !=
         config.attn_resolutions.end();
}

// Runs `fn` on consecutive groups of `frames_per_call` rows of the tensors (dim 0) and
// concatenates the results; 0 means all rows at once.
template <typename Fn>
Tensor over_frames(const std::vector<Tensor>& xs, std::int64_t frames_per_call, Fn fn) {
  const std::int64_t n = xs.front().size(0);
  if (frames_per_call <= 0 || frames_per_call >= n) return fn(xs);
  std::vector<Tensor> parts;
  for (std::int64_t start = 0; start < n; start += frames_per_call) {
    const std::int64_t end = std::min(n, start + frames_per_call);
    std::vector<Tensor> chunk;
    for (const Tensor& x : xs) chunk.push_back(x.slice(0, start, end));
    parts.push_back(fn(chunk));
  }
  return ops::concat(parts, 0);
}

// Video [B, T, H, W, C] folds to frames [(B T), H, W, C]; images pass through.
Tensor fold_frames(const Tensor& x) {
  if (x.dim() != 5) return x;
  const Shape s = x.shape();
  return ops::contiguous(x).reshape({s[0] * s[1], s[2], s[3], s[4]});
}

Tensor unfold_frames(const Tensor& y, const Tensor& like) {
  if (like.dim() != 5) return y;
  return y.reshape({like.size(0), like.size(1), y.size(1), y.size(2), y.size(3)});
}

}  // namespace

struct AutoencoderKL::Encoder {
  nn::Conv2d conv_in;
  std::vector<Level> down;
  Mid mid;
  nn::GroupNorm norm_out;
  nn::Conv2d conv_out;

  void load(const nn::WeightBinder& w, const AutoencoderKLConfig& c) {
    conv_in.load(w.child("conv_in"), c.in_channels, c.ch, 3, {.stride = 1, .padding = 1});
    const int levels = static_cast<int>(c.ch_mult.size());
    int res = c.resolution;
    std::int64_t block_in = c.ch;
    down.resize(static_cast<std::size_t>(levels));
    for (int i = 0; i < levels; ++i) {
      const nn::WeightBinder lw = w.child("down").child(std::to_string(i));
      const std::int64_t block_out = std::int64_t{c.ch} * c.ch_mult[i];
      Level& level = down[i];
      level.blocks.resize(static_cast<std::size_t>(c.num_res_blocks));
      for (int j = 0; j < c.num_res_blocks; ++j) {
        level.blocks[j].load(lw.child("block").child(std::to_string(j)), block_in, block_out);
        block_in = block_out;
        if (has_attention(c, res)) level.attns.emplace_back().load(lw.child("attn").child(std::to_string(j)), block_in);
      }
      if (i != levels - 1) {
        level.downsample.emplace().load(lw.child("downsample"), block_in);
        res /= 2;
      }
    }
    mid.load(w.child("mid"), block_in);
    norm_out.load(w.child("norm_out"), kGroups, block_in, kNormEps);
    conv_out.load(w.child("conv_out"), block_in, c.double_z ? 2 * c.z_channels : c.z_channels, 3,
                  {.stride = 1, .padding = 1});
  }

  Tensor operator()(const Tensor& x) const {
    Tensor h = conv_in(x);
    for (const Level& level : down) {
      h = level.run_blocks(h);
      if (level.downsample) h = (*level.downsample)(h);
    }
    return conv_out(norm_image(norm_out, mid(h), ops::Activation::SiLU));
  }
};

struct AutoencoderKL::Decoder {
  nn::Conv2d conv_in;
  Mid mid;
  std::vector<Level> up;  // indexed by level; run from the last to the first
  nn::GroupNorm norm_out;
  nn::Conv2d conv_out;

  void load(const nn::WeightBinder& w, const AutoencoderKLConfig& c) {
    const int levels = static_cast<int>(c.ch_mult.size());
    std::int64_t block_in = std::int64_t{c.ch} * c.ch_mult[levels - 1];
    int res = c.resolution >> (levels - 1);
    conv_in.load(w.child("conv_in"), c.z_channels, block_in, 3, {.stride = 1, .padding = 1});
    mid.load(w.child("mid"), block_in);
    up.resize(static_cast<std::size_t>(levels));
    for (int i = levels - 1; i >= 0; --i) {
      const nn::WeightBinder lw = w.child("up").child(std::to_string(i));
      const std::int64_t block_out = std::int64_t{c.ch} * c.ch_mult[i];
      Level& level = up[i];
      level.blocks.resize(static_cast<std::size_t>(c.num_res_blocks + 1));
      for (int j = 0; j <= c.num_res_blocks; ++j) {
        level.blocks[j].load(lw.child("block").child(std::to_string(j)), block_in, block_out);
        block_in = block_out;
        if (has_attention(c, res)) level.attns.emplace_back().load(lw.child("attn").child(std::to_string(j)), block_in);
      }
      if (i != 0) {
        level.upsample.emplace().load(lw.child("upsample"), block_in);
        res *= 2;
      }
    }
    norm_out.load(w.child("norm_out"), kGroups, block_in, kNormEps);
    conv_out.load(w.child("conv_out"), block_in, c.out_ch, 3, {.stride = 1, .padding = 1});
  }

  Tensor operator()(const Tensor& z) const {
    Tensor h = mid(conv_in(z));
    for (auto level = up.rbegin(); level != up.rend(); ++level) {
      h = level->run_blocks(h);
      if (level->upsample) h = (*level->upsample)(h);
    }
    return conv_out(norm_image(norm_out, h, ops::Activation::SiLU));
  }
};

Tensor DiagonalGaussian::sample(const Tensor& noise) const {
  WMA_CHECK(noise.shape() == mean.shape(), "[AutoencoderKL] posterior noise ", shape_str(noise.shape()),
            " does not match the latent ", shape_str(mean.shape()));
  return ops::add(mean, ops::mul(std, ops::to_device(ops::cast(noise, DType::F32), mean.device())));
}

AutoencoderKL::AutoencoderKL(const io::WeightStore& store, const AutoencoderKLConfig& config,
                             const nn::LoadOptions& options, const std::string& prefix)
    : config_(config), options_(options), encoder_(std::make_unique<Encoder>()), decoder_(std::make_unique<Decoder>()) {
  WMA_CHECK(!config.ch_mult.empty(), "[AutoencoderKL] ch_mult is empty");
  WMA_CHECK(config.double_z, "[AutoencoderKL] upstream requires double_z");
  const nn::WeightBinder w(store, prefix, options);
  encoder_->load(w.child("encoder"), config);
  decoder_->load(w.child("decoder"), config);
  load_conv1x1(quant_conv_, w.child("quant_conv"), 2 * config.z_channels, 2 * config.embed_dim);
  load_conv1x1(post_quant_conv_, w.child("post_quant_conv"), config.embed_dim, config.z_channels);
  w.finish("AutoencoderKL");
}

AutoencoderKL::~AutoencoderKL() = default;
AutoencoderKL::AutoencoderKL(AutoencoderKL&&) noexcept = default;
AutoencoderKL& AutoencoderKL::operator=(AutoencoderKL&&) noexcept = default;

DiagonalGaussian AutoencoderKL::encode(const Tensor& x) const {
  const Tensor moments = quant_conv_((*encoder_)(ops::cast(x, options_.dtype)));  // [N, h, w, 2 * embed_dim]
  // The clamp and exp run on the host: there is no device op for them, and this runs once per pass.
  const Tensor host = ops::to_device(ops::cast(moments, DType::F32), Device::CPU);
  const std::int64_t e = config_.embed_dim;
  const std::int64_t rows = host.numel() / (2 * e);
  Shape shape = host.shape();
  shape.back() = e;
  Tensor mean = Tensor::empty(shape), logvar = Tensor::empty(shape), stdev = Tensor::empty(shape);
  const float* m = host.data<float>();
  float* mp = mean.data<float>();
  float* lp = logvar.data<float>();
  float* sp = stdev.data<float>();
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < e; ++c) {
      const float lv = std::clamp(m[r * 2 * e + e + c], -30.0f, 20.0f);
      mp[r * e + c] = m[r * 2 * e + c];
      lp[r * e + c] = lv;
      sp[r * e + c] = std::exp(0.5f * lv);
    }
  }
  const Device device = x.device();
  return {ops::to_device(mean, device), ops::to_device(logvar, device), ops::to_device(stdev, device)};
}

Tensor AutoencoderKL::decode(const Tensor& z) const {
  return (*decoder_)(post_quant_conv_(ops::cast(z, options_.dtype)));
}

Tensor AutoencoderKL::encode_first_stage(const Tensor& x, const Tensor& noise, std::int64_t frames_per_call) const {
  return sample_first_stage(encode_frames(x, frames_per_call), noise, x);
}

DiagonalGaussian AutoencoderKL::encode_frames(const Tensor& x, std::int64_t frames_per_call) const {
  const Tensor frames = fold_frames(x);
  const std::int64_t n = frames.size(0);
  if (frames_per_call <= 0 || frames_per_call >= n) return encode(frames);
  // The posterior is elementwise in the encoder's output, so the parts' moments join into the whole's.
  std::vector<Tensor> mean, logvar, stddev;
  for (std::int64_t start = 0; start < n; start += frames_per_call) {
    const DiagonalGaussian part = encode(frames.slice(0, start, std::min(n, start + frames_per_call)));
    mean.push_back(part.mean);
    logvar.push_back(part.logvar);
    stddev.push_back(part.std);
  }
  return {ops::concat(mean, 0), ops::concat(logvar, 0), ops::concat(stddev, 0)};
}

Tensor AutoencoderKL::sample_first_stage(const DiagonalGaussian& posterior, const Tensor& noise,
                                         const Tensor& like) const {
  const Tensor eps = fold_frames(noise);
  WMA_CHECK(eps.size(0) == posterior.mean.size(0), "[AutoencoderKL] noise has ", eps.size(0), " frames, input ",
            posterior.mean.size(0));
  // Python float times an f32 tensor: the factor is rounded to f32 first.
  const float factor = static_cast<float>(config_.scale_factor);
  return unfold_frames(ops::scale(posterior.sample(eps), factor), like);
}

Tensor AutoencoderKL::decode_first_stage(const Tensor& z, std::int64_t frames_per_call) const {
  const Tensor frames = fold_frames(z);
  // Upstream computes `1. / scale_factor` in double and multiplies an f32 tensor by it (not a division).
  const float factor = static_cast<float>(1.0 / config_.scale_factor);
  const Tensor out = over_frames({frames}, frames_per_call, [&](const std::vector<Tensor>& part) {
    return decode(ops::scale(ops::cast(part[0], DType::F32), factor));
  });
  return unfold_frames(out, z);
}

AutoencoderKLConfig AutoencoderKLConfig::from_yaml(const io::YamlNode& first_stage_params, double scale_factor) {
  const io::YamlNode& dd = first_stage_params["ddconfig"];
  auto ints = [](const io::YamlNode& node) {
    std::vector<int> out;
    for (std::int64_t v : node.as_int_list()) out.push_back(static_cast<int>(v));
    return out;
  };
  AutoencoderKLConfig c;
  c.ch = static_cast<int>(dd["ch"].as_int());
  c.ch_mult = ints(dd["ch_mult"]);
  c.num_res_blocks = static_cast<int>(dd["num_res_blocks"].as_int());
  c.attn_resolutions = ints(dd["attn_resolutions"]);
  c.resolution = static_cast<int>(dd["resolution"].as_int());
  c.in_channels = static_cast<int>(dd["in_channels"].as_int());
  c.out_ch = static_cast<int>(dd["out_ch"].as_int());
  c.z_channels = static_cast<int>(dd["z_channels"].as_int());
  c.double_z = dd.get_bool("double_z", true);
  c.embed_dim = static_cast<int>(first_stage_params["embed_dim"].as_int());
  c.scale_factor = scale_factor;
  return c;
}

}  // namespace wma::models
