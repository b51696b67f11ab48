// Mirrors the constructors of upstream's src/unifolm_wma (modules/networks/wma_model.py, modules/attention.py,
// models/diffusion_head/{conditional_unet1d.py, vision/multi_image_obs_encoder.py, base_nets.py},
// modules/networks/ae_modules.py, modules/encoders/{condition.py, resampler.py}, models/ddpms.py
// _init_projectors), open_clip 2.22 (model.py CLIP, transformer.py) and torchvision's resnet18, counting only
// what draws from the CPU generator. Checked against torch by tools/rng/construction_draws.py.
#include "models/construction_draws.h"

#include <algorithm>
#include <optional>

#include "core/error.h"
#include "models/clip_vision.h"

namespace wma::models {

namespace {

using i64 = std::int64_t;

class Tally {
 public:
  void uniform(i64 n) { outputs_ += static_cast<std::uint64_t>(n); }
  // normal_fill over 16-element blocks: a ragged tail redraws 16 fresh uniforms.
  void normal(i64 n) {
    WMA_CHECK(n >= 16, "[construction draws] a normal draw of ", n,
              " elements takes ATen's scalar path, which is not modelled");
    outputs_ += static_cast<std::uint64_t>(n + (n % 16 != 0 ? 16 : 0));
  }
  // nn.Linear and nn.Conv*: kaiming_uniform_ on the weight, uniform_ on the bias (ConvTranspose alike).
  void linear(i64 in, i64 out, bool bias = true) {
    uniform(in * out);
    if (bias) uniform(out);
  }
  void conv(i64 in, i64 out, i64 kernel_volume, bool bias = true) { linear(in * kernel_volume, out, bias); }
  std::uint64_t outputs() const { return outputs_; }

 private:
  std::uint64_t outputs_ = 0;
};

// ---- modules/attention.py ----------------------------------------------------------------------

struct AttentionShape {
  i64 heads = 0, dim_head = 0;
  i64 inner() const { return heads * dim_head; }
};

void cross_attention(Tally& t, i64 query_dim, i64 context_dim, AttentionShape a, std::optional<int> relative_length,
                     bool image_cross_attention) {
  t.linear(query_dim, a.inner(), false);    // to_q
  t.linear(context_dim, a.inner(), false);  // to_k
  t.linear(context_dim, a.inner(), false);  // to_v
  t.linear(a.inner(), query_dim);           // to_out
  if (relative_length)                      // relative_position_k, _v: xavier_uniform_ tables
    for (int i = 0; i < 2; ++i) t.uniform((2 * i64{*relative_length} + 1) * a.dim_head);
  if (image_cross_attention)  // to_k_ip, to_v_ip, to_k_as, to_v_as, to_k_aa, to_v_aa
    for (int i = 0; i < 6; ++i) t.linear(context_dim, a.inner(), false);
}

// BasicTransformerBlock: self-attention, GEGLU FeedForward (mult 4), cross-attention (context or itself).
void transformer_block(Tally& t, i64 dim, AttentionShape a, std::optional<i64> context_dim,
                       std::optional<int> relative_length, bool image_cross_attention) {
  cross_attention(t, dim, dim, a, relative_length, false);
  t.linear(dim, 2 * 4 * dim);  // GEGLU proj
  t.linear(4 * dim, dim);
  cross_attention(t, dim, context_dim.value_or(dim), a, relative_length, image_cross_attention);
}

void proj(Tally& t, i64 in, i64 out, bool use_linear) {
  if (use_linear) t.linear(in, out);
  else t.conv(in, out, 1);
}

void spatial_transformer(Tally& t, const WMAUNetConfig& u, i64 channels, AttentionShape a) {
  proj(t, channels, a.inner(), u.use_linear);
  for (int d = 0; d < u.transformer_depth; ++d)
    transformer_block(t, a.inner(), a, u.context_dim, std::nullopt, u.image_cross_attention);
  proj(t, a.inner(), channels, u.use_linear);
}

void temporal_transformer(Tally& t, const WMAUNetConfig& u, i64 channels, AttentionShape a, bool only_self_att) {
  t.conv(channels, a.inner(), 1);  // the first proj_in, replaced right away by the next one
  proj(t, channels, a.inner(), u.use_linear);
  const std::optional<int> relative = u.use_relative_position ? std::optional<int>(u.temporal_length) : std::nullopt;
  for (int d = 0; d < u.transformer_depth; ++d)
    transformer_block(t, a.inner(), a, only_self_att ? std::nullopt : std::optional<i64>(u.context_dim), relative,
                      false);
  proj(t, a.inner(), channels, u.use_linear);
}

// ---- modules/networks/wma_model.py -------------------------------------------------------------

void res_block(Tally& t, const WMAUNetConfig& u, i64 channels, i64 out, bool temporal_conv) {
  const i64 emb = 4 * u.model_channels;
  t.conv(channels, out, 9);                               // in_layers
  t.linear(emb, u.use_scale_shift_norm ? 2 * out : out);  // emb_layers
  t.conv(out, out, 9);                                    // out_layers (zeroed after drawing)
  if (out != channels) t.conv(channels, out, 1);          // skip_connection
  if (temporal_conv) {                                    // TemporalConvBlock conv1..conv4
    const i64 k = u.tempspatial_aware ? 9 : 3;
    for (int i = 0; i < 4; ++i) t.conv(out, out, k);
  }
}

AttentionShape attention_shape(const WMAUNetConfig& u, i64 channels) {
  if (u.num_head_channels == -1) return {u.num_heads, channels / u.num_heads};
  return {channels / u.num_head_channels, u.num_head_channels};
}

void attention_layers(Tally& t, const WMAUNetConfig& u, i64 channels) {
  const AttentionShape a = attention_shape(u, channels);
  spatial_transformer(t, u, channels, a);
  if (u.temporal_attention) temporal_transformer(t, u, channels, a, true);
}

void resample(Tally& t, const WMAUNetConfig& u, i64 channels) {
  if (u.resblock_updown) res_block(t, u, channels, channels, false);
  else if (u.conv_resample) t.conv(channels, channels, 9);
}

void wma_unet(Tally& t, const WMAUNetConfig& u) {
  const i64 mc = u.model_channels, emb = 4 * mc;
  t.linear(mc, emb);  // time_embed
  t.linear(emb, emb);
  if (u.fs_condition) {
    t.linear(mc, emb);  // fps_embedding (last layer zeroed after drawing)
    t.linear(emb, emb);
  }
  t.conv(u.in_channels, mc, 9);
  if (u.addition_attention) {
    WMA_CHECK(u.num_head_channels > 0, "[construction draws] init_attn needs num_head_channels");
    temporal_transformer(t, u, mc, {8, u.num_head_channels}, u.temporal_selfatt_only);
  }
  auto attends = [&](int ds) {
    return std::find(u.attention_resolutions.begin(), u.attention_resolutions.end(), ds) !=
           u.attention_resolutions.end();
  };
  std::vector<i64> skips = {mc};
  i64 ch = mc;
  int ds = 1;
  const int levels = static_cast<int>(u.channel_mult.size());
  for (int level = 0; level < levels; ++level) {
    for (int r = 0; r < u.num_res_blocks; ++r) {
      res_block(t, u, ch, u.channel_mult[level] * mc, u.temporal_conv);
      ch = u.channel_mult[level] * mc;
      if (attends(ds)) attention_layers(t, u, ch);
      skips.push_back(ch);
    }
    if (level != levels - 1) {
      resample(t, u, ch);
      skips.push_back(ch);
      ds *= 2;
    }
  }
  res_block(t, u, ch, ch, u.temporal_conv);  // middle_block
  attention_layers(t, u, ch);
  res_block(t, u, ch, ch, u.temporal_conv);
  for (int level = levels - 1; level >= 0; --level) {
    for (int i = 0; i <= u.num_res_blocks; ++i) {
      const i64 skip = skips.back();
      skips.pop_back();
      res_block(t, u, ch + skip, u.channel_mult[level] * mc, u.temporal_conv);
      ch = u.channel_mult[level] * mc;
      if (attends(ds)) attention_layers(t, u, ch);
      if (level != 0 && i == u.num_res_blocks) {
        resample(t, u, ch);
        ds /= 2;
      }
    }
  }
  t.conv(mc, u.out_channels, 9);  // out (zeroed after drawing)
}

// ---- models/diffusion_head ----------------------------------------------------------------------

// torchvision resnet18: every conv is drawn by nn.Conv2d and again by kaiming_normal_; fc is replaced by
// Identity afterwards, but was drawn.
void resnet18(Tally& t) {
  auto conv = [&](i64 in, i64 out, i64 k) {
    t.conv(in, out, k * k, false);
    t.normal(in * out * k * k);
  };
  conv(3, 64, 7);
  i64 in = 64;
  for (const i64 out : {64, 128, 256, 512}) {
    conv(in, out, 3);
    conv(out, out, 3);
    if (in != out) conv(in, out, 1);  // downsample of the first block (stride 2)
    conv(out, out, 3);
    conv(out, out, 3);
    in = out;
  }
  t.linear(512, 1000);
}

void conditional_residual_block(Tally& t, i64 in, i64 out, i64 cond_dim, int kernel) {
  t.conv(in, out, kernel);            // Conv1dBlock
  t.conv(out, out, kernel);           // Conv1dBlock
  t.linear(cond_dim, 2 * out);        // cond_encoder (cond_predict_scale with use_linear_act_proj)
  if (in != out) t.conv(in, out, 1);  // residual_conv
}

void conditional_unet1d(Tally& t, const ConditionalUnet1DConfig& h) {
  // MultiImageObsEncoder: the ResNet, then SpatialSoftmax's 1x1 conv; output_shape() runs one forward in
  // training mode, where SpatialSoftmax adds torch.randn_like noise to the [1, num_kp, 2] keypoints.
  resnet18(t);
  t.conv(512, h.obs.num_kp, 1);
  t.normal(2 * h.obs.num_kp);

  const i64 dsed = h.step_embed_dim;
  t.linear(dsed, 4 * dsed);  // diffusion_step_encoder
  t.linear(4 * dsed, dsed);
  const i64 cond_dim = dsed + h.global_cond_dim();
  std::vector<i64> dims = {h.input_dim};
  dims.insert(dims.end(), h.down_dims.begin(), h.down_dims.end());
  const std::size_t stages = dims.size() - 1;
  WMA_CHECK(h.context_dims.size() >= stages, "[construction draws] ConditionalUnet1D needs ", stages,
            " context dims, has ", h.context_dims.size());
  i64 cur_cond = cond_dim;
  for (std::size_t i = 0; i < stages; ++i) {
    cur_cond = cond_dim + 2 * h.context_dims[i];
    conditional_residual_block(t, dims[i], dims[i + 1], cur_cond, h.kernel_size);
    conditional_residual_block(t, dims[i + 1], dims[i + 1], cur_cond, h.kernel_size);
    if (i + 1 < stages) t.conv(dims[i + 1], dims[i + 1], 3);  // Downsample1d
  }
  for (int i = 0; i < 2; ++i) conditional_residual_block(t, dims.back(), dims.back(), cur_cond, h.kernel_size);
  // Up path over reversed(in_out[1:] + [(last, last)]) with the context dims reversed.
  std::vector<std::pair<i64, i64>> up;
  for (std::size_t i = 1; i < stages; ++i) up.emplace_back(dims[i], dims[i + 1]);
  up.emplace_back(dims.back(), dims.back());
  std::reverse(up.begin(), up.end());
  for (std::size_t i = 0; i < up.size(); ++i) {
    const auto [dim_in, dim_out] = up[i];
    const i64 cond = cond_dim + 2 * h.context_dims[h.context_dims.size() - 1 - i];
    conditional_residual_block(t, dim_out + dim_in, dim_in, cond, h.kernel_size);
    conditional_residual_block(t, dim_in, dim_in, cond, h.kernel_size);
    if (i + 1 < stages) t.conv(dim_in, dim_in, 4);  // Upsample1d: ConvTranspose1d
  }
  t.conv(h.down_dims.front(), h.down_dims.front(), h.kernel_size);  // final_conv
  t.conv(h.down_dims.front(), h.input_dim, 1);
  for (const i64 c : h.context_dims) t.conv(c, c, 1);  // spatial_softmax_blocks (the rest repeat these)
  t.linear(1, h.act_proj_dim);                         // proj_in_action
  t.linear(h.horizon, h.act_proj_dim);                 // proj_in_horizon
  t.linear(h.act_proj_dim, 1);                         // proj_out_action
  t.linear(h.act_proj_dim, h.horizon);                 // proj_out_horizon
}

// ---- modules/encoders/resampler.py, condition.py --------------------------------------------------

void perceiver_layers(Tally& t, i64 dim, int depth, int dim_head, int heads, int ff_mult) {
  const i64 inner = i64{dim_head} * heads;
  for (int d = 0; d < depth; ++d) {
    t.linear(dim, inner, false);      // to_q
    t.linear(dim, 2 * inner, false);  // to_kv
    t.linear(inner, dim, false);      // to_out
    t.linear(dim, dim * ff_mult, false);
    t.linear(dim * ff_mult, dim, false);
  }
}

// ---- modules/networks/ae_modules.py -------------------------------------------------------------

void vae(Tally& t, const AutoencoderKLConfig& v) {
  auto resnet = [&](i64 in, i64 out) {
    t.conv(in, out, 9);
    t.conv(out, out, 9);
    if (in != out) t.conv(in, out, 1);  // nin_shortcut
  };
  auto attn = [&](i64 c) {
    for (int i = 0; i < 4; ++i) t.conv(c, c, 1);  // q, k, v, proj_out
  };
  auto attends = [&](int res) {
    return std::find(v.attn_resolutions.begin(), v.attn_resolutions.end(), res) != v.attn_resolutions.end();
  };
  const int levels = static_cast<int>(v.ch_mult.size());
  // Encoder
  t.conv(v.in_channels, v.ch, 9);
  int res = v.resolution;
  i64 block_in = v.ch;
  for (int level = 0; level < levels; ++level) {
    block_in = i64{v.ch} * (level == 0 ? 1 : v.ch_mult[level - 1]);
    const i64 block_out = i64{v.ch} * v.ch_mult[level];
    for (int b = 0; b < v.num_res_blocks; ++b) {
      resnet(block_in, block_out);
      block_in = block_out;
      if (attends(res)) attn(block_in);
    }
    if (level != levels - 1) {
      t.conv(block_in, block_in, 9);
      res /= 2;
    }
  }
  resnet(block_in, block_in);
  attn(block_in);
  resnet(block_in, block_in);
  t.conv(block_in, v.double_z ? 2 * i64{v.z_channels} : v.z_channels, 9);
  // Decoder
  block_in = i64{v.ch} * v.ch_mult.back();
  res = v.resolution >> (levels - 1);
  t.conv(v.z_channels, block_in, 9);
  resnet(block_in, block_in);
  attn(block_in);
  resnet(block_in, block_in);
  for (int level = levels - 1; level >= 0; --level) {
    const i64 block_out = i64{v.ch} * v.ch_mult[level];
    for (int b = 0; b <= v.num_res_blocks; ++b) {
      resnet(block_in, block_out);
      block_in = block_out;
      if (attends(res)) attn(block_in);
    }
    if (level != 0) {
      t.conv(block_in, block_in, 9);
      res *= 2;
    }
  }
  t.conv(block_in, v.out_ch, 9);
  t.conv(2 * i64{v.z_channels}, 2 * i64{v.embed_dim}, 1);  // quant_conv
  t.conv(v.embed_dim, v.z_channels, 1);                    // post_quant_conv
}

// ---- open_clip 2.22 CLIP --------------------------------------------------------------------------

// The fields of an open_clip model config that its construction draws depend on (ViT-H-14's by default).
struct OpenClipArch {
  i64 embed_dim = 1024;
  i64 vision_width = 1280, vision_layers = 32, image_size = 224, patch_size = 14;
  double vision_mlp_ratio = 4.0;
  i64 text_width = 1024, text_layers = 24, context_length = 77, vocab_size = 49408;
  double text_mlp_ratio = 4.0;

  static OpenClipArch from_yaml(const io::YamlNode& params, const io::YamlNode* open_clip_configs) {
    OpenClipArch a;
    const io::YamlNode* arch = open_clip_arch(params, open_clip_configs);
    if (!arch) return a;
    a.embed_dim = arch->get_int("embed_dim", a.embed_dim);
    const io::YamlNode& v = (*arch)["vision_cfg"];
    a.vision_width = v.get_int("width", a.vision_width);
    a.vision_layers = v.get_int("layers", a.vision_layers);
    a.image_size = v.get_int("image_size", a.image_size);
    a.patch_size = v.get_int("patch_size", a.patch_size);
    a.vision_mlp_ratio = v.get_double("mlp_ratio", a.vision_mlp_ratio);
    const io::YamlNode& x = (*arch)["text_cfg"];
    a.text_width = x.get_int("width", a.text_width);
    a.text_layers = x.get_int("layers", a.text_layers);
    a.context_length = x.get_int("context_length", a.context_length);
    a.vocab_size = x.get_int("vocab_size", a.vocab_size);
    a.text_mlp_ratio = x.get_double("mlp_ratio", a.text_mlp_ratio);
    return a;
  }
};

// ResidualAttentionBlock: nn.MultiheadAttention (out_proj Linear drawn, in_proj xavier_uniform_) and the MLP.
void clip_block(Tally& t, i64 width, double mlp_ratio) {
  const auto mlp = static_cast<i64>(static_cast<double>(width) * mlp_ratio);
  t.linear(width, width);
  t.uniform(3 * width * width);
  t.linear(width, mlp);
  t.linear(mlp, width);
}

// The whole CLIP model: both FrozenOpenCLIP embedders build it and delete the tower they do not use.
void open_clip_model(Tally& t, const OpenClipArch& a) {
  const i64 grid = a.image_size / a.patch_size;
  t.conv(3, a.vision_width, a.patch_size * a.patch_size, false);  // conv1
  t.normal(a.vision_width);                                       // class_embedding
  t.normal((grid * grid + 1) * a.vision_width);                   // positional_embedding
  for (i64 l = 0; l < a.vision_layers; ++l) clip_block(t, a.vision_width, a.vision_mlp_ratio);
  t.normal(a.vision_width * a.embed_dim);  // proj

  const i64 w = a.text_width, mlp = static_cast<i64>(static_cast<double>(w) * a.text_mlp_ratio);
  t.normal(a.vocab_size * w);  // nn.Embedding's own init
  for (i64 l = 0; l < a.text_layers; ++l) clip_block(t, w, a.text_mlp_ratio);
  // TextTransformer.init_parameters draws everything again with normal_.
  t.normal(a.vocab_size * w);
  t.normal(a.context_length * w);
  for (i64 l = 0; l < a.text_layers; ++l) {
    t.normal(3 * w * w);  // attn.in_proj_weight
    t.normal(w * w);      // attn.out_proj.weight
    t.normal(w * mlp);    // mlp.c_fc.weight
    t.normal(mlp * w);    // mlp.c_proj.weight
  }
  t.normal(w * a.embed_dim);  // text_projection
}

}  // namespace

std::uint64_t ConstructionDraws::total() const {
  std::uint64_t sum = 0;
  for (const Part& p : parts) sum += p.outputs;
  return sum;
}

std::uint64_t ConstructionDraws::of(const std::string& name) const {
  for (const Part& p : parts)
    if (p.name == name) return p.outputs;
  fail("[construction draws] no part named '", name, "'");
}

ConstructionDraws upstream_construction_draws(const io::YamlNode& root, const ObsShapeMeta& obs) {
  const WmaConfig c = WmaConfig::from_yaml(root, obs);
  const io::YamlNode& p = root.at_path("model.params");
  const io::YamlNode* open_clip = root.find("open_clip_model_configs");
  ConstructionDraws out;
  auto part = [&](const char* name, auto&& build) {
    Tally t;
    build(t);
    out.parts.push_back({name, t.outputs()});
  };
  part("unet", [&](Tally& t) { wma_unet(t, c.diffusion.unet); });
  part("heads", [&](Tally& t) {
    conditional_unet1d(t, c.diffusion.heads);  // action_unet
    conditional_unet1d(t, c.diffusion.heads);  // state_unet
  });
  part("action_token_projector", [&](Tally& t) {
    const SATokenProjectorConfig& s = c.diffusion.action_token_projector;
    t.normal(s.num_latents() * s.dim);
    t.linear(s.dim, s.output_dim);
    perceiver_layers(t, s.dim, s.depth, s.dim_head, s.heads, s.ff_mult);
  });
  part("first_stage_model", [&](Tally& t) { vae(t, c.vae); });
  part("cond_stage_model", [&](Tally& t) {
    open_clip_model(t, OpenClipArch::from_yaml(p.at_path("cond_stage_config.params"), open_clip));
  });
  part("embedder", [&](Tally& t) {
    open_clip_model(t, OpenClipArch::from_yaml(p.at_path("img_cond_stage_config.params"), open_clip));
  });
  part("image_proj_model", [&](Tally& t) {
    const ResamplerConfig& r = c.resampler;
    t.normal(r.num_latents() * r.dim);
    t.linear(r.embedding_dim, r.dim);
    t.linear(r.dim, r.output_dim);
    perceiver_layers(t, r.dim, r.depth, r.dim_head, r.heads, r.ff_mult);
  });
  part("projectors", [&](Tally& t) {
    const AgentProjectorsConfig& a = c.projectors;
    t.linear(a.agent_state_dim, a.emb_dim);  // state_projector
    t.linear(a.emb_dim, a.emb_dim);
    t.linear(a.agent_action_dim, a.emb_dim);  // action_projector
    t.linear(a.emb_dim, a.emb_dim);
    t.normal(a.action_length * a.emb_dim);       // agent_action_pos_emb
    t.normal(a.n_obs_steps_imagen * a.emb_dim);  // agent_state_pos_emb
  });
  return out;
}

}  // namespace wma::models
