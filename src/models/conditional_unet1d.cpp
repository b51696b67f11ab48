// ConditionalUnet1D.forward (conditional_unet1d.py L504-701) with use_linear_act_proj: every
// (batch, step) row is its own 1-D signal whose Conv1d channels are the action dims and whose
// length is act_proj_dim; activations are channels-last [B*T, L, C].
#include "models/conditional_unet1d.h"

namespace wma::models {
namespace {

using ops::Activation;

// spatial_softmax_blocks is [0, 1, 2, 3] + [3] + [3, 2, 1, 0] over the same four modules.
constexpr int kSpatialBlock[9] = {0, 1, 2, 3, 3, 3, 2, 1, 0};

Tensor mish(const Tensor& x) { return ops::activation(x, Activation::Mish); }

}  // namespace

ConditionalUnet1DConfig ConditionalUnet1DConfig::from_yaml(const io::YamlNode& model_params,
                                                           std::int64_t obs_image_height, std::int64_t obs_image_width,
                                                           std::int64_t obs_low_dim) {
  const io::YamlNode& wma = model_params.at_path("wma_config.params");
  const io::YamlNode& head = wma.at_path("unet_head_config.params");
  auto require = [&](const char* key, bool expected) {
    WMA_CHECK(head.get_bool(key, !expected) == expected, "[ConditionalUnet1D] ", head[key].path(), " = ", !expected,
              " is not supported");
  };
  require("use_linear_act_proj", true);
  require("cond_predict_scale", true);
  require("cond_cross_attention", false);
  require("use_imagen_mid_only", false);
  require("use_z_only", false);
  require("last_frame_only", false);

  ConditionalUnet1DConfig c;
  c.input_dim = head["input_dim"].as_int();
  c.n_obs_steps = head.get_int("n_obs_steps", 1);
  c.step_embed_dim = head.get_int("diffusion_step_embed_dim", 256);
  c.down_dims = head["down_dims"].as_int_list();
  c.kernel_size = static_cast<int>(head.get_int("kernel_size", 3));
  c.n_groups = static_cast<int>(head.get_int("n_groups", 8));
  c.horizon = head.get_int("horizon", 16);
  c.act_proj_dim = head.get_int("act_proj_dim", 32);
  c.context_dims.clear();
  for (std::int64_t mult : wma["channel_mult"].as_int_list())
    c.context_dims.push_back(mult * wma["model_channels"].as_int());
  const std::vector<std::int64_t> size = head["image_size"].as_int_list();
  WMA_CHECK(size.size() == 2, "[ConditionalUnet1D] ", head["image_size"].path(), " must be [h, w]");
  c.image_height = size[0];
  c.image_width = size[1];
  const io::YamlNode& obs = head.at_path("obs_encoder_config.params");
  WMA_CHECK(obs.get_bool("use_group_norm", false) && obs.get_bool("imagenet_norm", false) &&
                obs.get_bool("use_spatial_softmax", false) && !obs.get_bool("share_rgb_model", false) &&
                obs.find("resize_shape")->is_null() && obs.find("crop_shape")->is_null(),
            "[ConditionalUnet1D] ", obs.path(),
            ": only the GroupNorm ResNet18 + spatial softmax encoder without "
            "resize/crop is supported");
  WMA_CHECK(obs.at_path("rgb_model_config.params.name").as_string() == "resnet18", "[ConditionalUnet1D] ", obs.path(),
            ": only resnet18 is supported");
  c.obs.num_kp = obs.get_int("spatial_softmax_kp", 32);
  c.obs.image_height = obs_image_height;
  c.obs.image_width = obs_image_width;
  c.obs.low_dim = obs_low_dim;
  return c;
}

void ConditionalUnet1D::Conv1dBlock::load(const nn::WeightBinder& w, std::int64_t in, std::int64_t out, int kernel,
                                          int groups) {
  conv.load(w.child("block").child("0"), in, out, kernel, {.stride = 1, .padding = kernel / 2});
  norm.load(w.child("block").child("1"), groups, out, 1e-5f);
}

Tensor ConditionalUnet1D::Conv1dBlock::operator()(const Tensor& x, const Tensor* film) const {
  return norm(conv(x), Activation::Mish, nullptr, film);
}

void ConditionalUnet1D::ResBlock::load(const nn::WeightBinder& w, std::int64_t in, std::int64_t out,
                                       std::int64_t cond_dim, int kernel, int groups) {
  out_channels = out;
  block0.load(w.child("blocks").child("0"), in, out, kernel, groups);
  block1.load(w.child("blocks").child("1"), out, out, kernel, groups);
  cond_encoder.load(w.child("cond_encoder").child("1"), cond_dim, 2 * out);
  has_residual = in != out;
  if (has_residual) residual_conv.load(w.child("residual_conv"), in, out, 1, {});
}

Tensor ConditionalUnet1D::ResBlock::operator()(const Tensor& x, const Tensor& mish_cond) const {
  const std::int64_t rows = mish_cond.size(0) * mish_cond.size(1);
  // [B, T, 2C] -> [B*T, 2, C]: the first C outputs scale, the next C shift (broadcast over length).
  const Tensor film = cond_encoder(mish_cond).reshape({rows, 2, out_channels});
  const Tensor h = block1(block0(x, &film));
  return ops::add(h, has_residual ? residual_conv(x) : x);
}

ConditionalUnet1D::ConditionalUnet1D(const io::WeightStore& store, const ConditionalUnet1DConfig& config,
                                     const nn::LoadOptions& options, const std::string& prefix)
    : config_(config) {
  const auto& c = config;
  WMA_CHECK(c.down_dims.size() == 4 && c.context_dims.size() == 4,
            "[ConditionalUnet1D] expected 4 down_dims and 4 context_dims (9 UNet features), got ", c.down_dims.size(),
            " and ", c.context_dims.size());
  const nn::WeightBinder w(store, prefix, options);
  obs_encoder_.load(w.child("obs_encoder"), c.obs);

  const nn::WeightBinder step = w.child("diffusion_step_encoder");
  step_fc1_.load(step.child("1"), c.step_embed_dim, 4 * c.step_embed_dim);
  step_fc2_.load(step.child("3"), 4 * c.step_embed_dim, c.step_embed_dim);

  const nn::WeightBinder ss = w.child("spatial_softmax_blocks");
  for (int k = 0; k < 4; ++k) {
    const std::int64_t ch = c.context_dims[k];
    spatial_softmax_[k].load(ss.child(std::to_string(k)), ch, ch, c.image_height >> k, c.image_width >> k);
  }
  for (int i = 4; i < 9; ++i) {
    // The same module again in the state_dict: must be there with the same shapes; not loaded.
    const int k = kSpatialBlock[i];
    const std::int64_t ch = c.context_dims[k];
    const nn::WeightBinder dup = ss.child(std::to_string(i));
    dup.child("nets").take("weight", {ch, ch, 1, 1});
    dup.child("nets").take("bias", {ch});
    for (const char* buffer : {"pos_x", "pos_y", "temperature"}) dup.ignore(buffer);
  }

  const std::int64_t base_cond = c.step_embed_dim + c.global_cond_dim();
  std::vector<std::int64_t> dims{c.input_dim};
  dims.insert(dims.end(), c.down_dims.begin(), c.down_dims.end());
  down_.resize(4);
  for (int k = 0; k < 4; ++k) {
    const nn::WeightBinder lw = w.child("down_modules").child(std::to_string(k));
    const std::int64_t cond_dim = base_cond + 2 * c.context_dims[k];
    down_[k].res0.load(lw.child("0"), dims[k], dims[k + 1], cond_dim, c.kernel_size, c.n_groups);
    down_[k].res1.load(lw.child("1"), dims[k + 1], dims[k + 1], cond_dim, c.kernel_size, c.n_groups);
    down_[k].resample = k < 3;
    if (down_[k].resample)
      down_[k].downsample.load(lw.child("3").child("conv"), dims[k + 1], dims[k + 1], 3, {.stride = 2, .padding = 1});
  }
  const std::int64_t mid = c.down_dims.back(), mid_cond = base_cond + 2 * c.context_dims.back();
  mid0_.load(w.child("mid_modules").child("0"), mid, mid, mid_cond, c.kernel_size, c.n_groups);
  mid1_.load(w.child("mid_modules").child("1"), mid, mid, mid_cond, c.kernel_size, c.n_groups);
  up_.resize(4);
  for (int j = 0; j < 4; ++j) {
    // reversed(in_out[1:] + [(d[-1], d[-1])]): (in, out) = (d[3], d[3]), (d[2], d[3]), (d[1], d[2]), (d[0], d[1]).
    const std::int64_t in = j == 0 ? c.down_dims[3] : c.down_dims[3 - j];
    const std::int64_t out = j == 0 ? c.down_dims[3] : c.down_dims[4 - j];
    const nn::WeightBinder lw = w.child("up_modules").child(std::to_string(j));
    const std::int64_t cond_dim = base_cond + 2 * c.context_dims[3 - j];
    up_[j].res0.load(lw.child("0"), out + in, in, cond_dim, c.kernel_size, c.n_groups);
    up_[j].res1.load(lw.child("1"), in, in, cond_dim, c.kernel_size, c.n_groups);
    up_[j].resample = j < 3;
    if (up_[j].resample) up_[j].upsample.load(lw.child("3").child("conv"), in, in, 4, {.stride = 2, .padding = 1});
  }
  final_block_.load(w.child("final_conv").child("0"), c.down_dims[0], c.down_dims[0], c.kernel_size, c.n_groups);
  final_proj_.load(w.child("final_conv").child("1"), c.down_dims[0], c.input_dim, 1, {});
  proj_in_.load(w.child("proj_in_action").child("0"), 1, c.act_proj_dim);
  proj_in_norm_.load(w.child("proj_in_action").child("1"), c.act_proj_dim);
  proj_out_norm_.load(w.child("proj_out_action").child("0"), c.act_proj_dim);
  proj_out_.load(w.child("proj_out_action").child("1"), c.act_proj_dim, 1);
  // Built upstream but only used with use_linear_act_proj False.
  w.ignore_subtree("proj_in_horizon");
  w.ignore_subtree("proj_out_horizon");
  w.finish(str_cat("ConditionalUnet1D (", prefix, ")"));
}

Tensor ConditionalUnet1D::encode_observation(const Tensor& images, const Tensor& agent_pos) const {
  const auto& c = config_;
  WMA_CHECK(images.dim() == 5 && images.size(1) == c.n_obs_steps && agent_pos.dim() == 3 &&
                agent_pos.size(0) == images.size(0) && agent_pos.size(1) == c.n_obs_steps,
            "[ConditionalUnet1D] expected images [B, ", c.n_obs_steps, ", H, W, 3] and agent_pos [B, ", c.n_obs_steps,
            ", D], got ", images.describe(), " and ", agent_pos.describe());
  const std::int64_t b = images.size(0), o = c.n_obs_steps;
  const DType dtype = step_fc1_.weight.dtype();
  const Tensor imgs =
      ops::cast(ops::contiguous(images), dtype).reshape({b * o, images.size(2), images.size(3), images.size(4)});
  const Tensor pos = ops::cast(ops::contiguous(agent_pos), dtype).reshape({b * o, agent_pos.size(2)});
  // [(B O), F] -> [B, 1, O*F] (step 0 features first) -> repeated over the horizon.
  const Tensor features = obs_encoder_(imgs, pos).reshape({b, 1, o * c.obs.feature_dim()});
  return ops::repeat(features, 1, c.horizon);
}

Tensor ConditionalUnet1D::level_condition(const Tensor& step_emb, const Tensor& global_cond, const Tensor& feature,
                                          int index) const {
  const std::int64_t b = feature.size(0), t = feature.size(1);
  const Tensor frames = ops::contiguous(feature).reshape({b * t, feature.size(2), feature.size(3), feature.size(4)});
  const Tensor keypoints = spatial_softmax_[kSpatialBlock[index]](frames);
  return mish(ops::concat({step_emb, global_cond, keypoints.reshape({b, t, keypoints.size(1)})}, 2));
}

Tensor ConditionalUnet1D::operator()(const Tensor& sample, const Tensor& timesteps, const std::vector<Tensor>& hs_a,
                                     const Tensor& global_cond) const {
  const auto& c = config_;
  WMA_CHECK(sample.dim() == 3 && sample.size(1) == c.horizon && sample.size(2) == c.input_dim,
            "[ConditionalUnet1D] expected sample [B, ", c.horizon, ", ", c.input_dim, "], got ", sample.describe());
  const std::int64_t b = sample.size(0), t = c.horizon, d = c.input_dim, len = c.act_proj_dim;
  WMA_CHECK(hs_a.size() == 9, "[ConditionalUnet1D] expected 9 UNet features, got ", hs_a.size());
  for (std::size_t i = 0; i < hs_a.size(); ++i) {
    const int k = kSpatialBlock[i];
    WMA_CHECK(hs_a[i].dim() == 5 && hs_a[i].size(0) == b && hs_a[i].size(1) == t &&
                  hs_a[i].size(4) == c.context_dims[k],
              "[ConditionalUnet1D] hs_a[", i, "]: expected [", b, ", ", t, ", h, w, ", c.context_dims[k], "], got ",
              hs_a[i].describe());
  }
  WMA_CHECK(global_cond.dim() == 3 && global_cond.size(0) == b && global_cond.size(1) == t &&
                global_cond.size(2) == c.global_cond_dim(),
            "[ConditionalUnet1D] expected global_cond [", b, ", ", t, ", ", c.global_cond_dim(), "], got ",
            global_cond.describe());
  WMA_CHECK(timesteps.dim() == 1 && (timesteps.size(0) == b || timesteps.size(0) == 1),
            "[ConditionalUnet1D] expected timesteps [", b, "] or [1], got ", timesteps.describe());

  // SinusoidalPosEmb [sin | cos] (divisor half - 1) -> Linear -> Mish -> Linear, per batch row.
  // The sampler keeps its state in f32 (design §4); the head computes in its weights' dtype.
  const DType dtype = step_fc1_.weight.dtype();
  const Tensor t_emb = ops::cast(ops::timestep_embedding(timesteps, static_cast<int>(c.step_embed_dim),
                                                         ops::TimestepStyle::SinCosHalfM1),
                                 dtype);
  const Tensor step = step_fc2_(step_fc1_(t_emb, {.act = Activation::Mish}));
  const Tensor step_rows = step.reshape({step.size(0), 1, c.step_embed_dim}).expand({b, t, c.step_embed_dim});

  // [B, T, D] -> Linear(1, L) + LN on a trailing singleton -> [B*T, D, L] in torch = [B*T, L, D] here.
  Tensor x = proj_in_norm_(proj_in_(ops::cast(ops::contiguous(sample), dtype).reshape({b, t, d, 1})));
  x = ops::contiguous(x.reshape({b * t, d, len}).transpose(1, 2));

  std::vector<Tensor> skips;
  for (int k = 0; k < 4; ++k) {
    const Tensor cond = level_condition(step_rows, global_cond, hs_a[k], k);
    x = down_[k].res1(down_[k].res0(x, cond), cond);
    skips.push_back(x);
    if (down_[k].resample) x = down_[k].downsample(x);
  }
  {
    const Tensor cond = level_condition(step_rows, global_cond, hs_a[4], 4);
    x = mid1_(mid0_(x, cond), cond);
  }
  for (int j = 0; j < 4; ++j) {
    const Tensor cond = level_condition(step_rows, global_cond, hs_a[5 + j], 5 + j);
    x = ops::concat({x, skips.back()}, 2);  // [x, skip] along channels
    skips.pop_back();
    x = up_[j].res1(up_[j].res0(x, cond), cond);
    if (up_[j].resample) x = up_[j].upsample(x);
  }
  x = final_proj_(final_block_(x));  // [B*T, L, D]
  x = ops::contiguous(x.transpose(1, 2)).reshape({b, t, d, len});
  return ops::cast(proj_out_(proj_out_norm_(x)).reshape({b, t, d}), sample.dtype());
}

}  // namespace wma::models
