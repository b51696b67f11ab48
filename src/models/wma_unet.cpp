// The video UNet of upstream's WMAModel (modules/networks/wma_model.py L326-848): construction
// mirrors WMAModel.__init__ (block order, channel bookkeeping, which blocks get transformers),
// the forward mirrors WMAModel.forward up to the heads.
#include "models/wma_unet.h"

#include <string>
#include <utility>

namespace wma::models {
namespace {

constexpr std::int64_t kTextTokens = 77;    // hard-coded in upstream's layout test
constexpr std::int64_t kActionTokens = 16;  // action steps in the raw context
constexpr std::int64_t kImageTokensPerFrame = 16;
constexpr int kInitAttnHeads = 8;

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};

bool contains(const std::vector<int>& v, std::int64_t x) {
  for (int e : v)
    if (e == x) return true;
  return false;
}

std::vector<int> int_list(const io::YamlNode& node) {
  std::vector<int> out;
  for (std::int64_t v : node.as_int_list()) out.push_back(static_cast<int>(v));
  return out;
}

}  // namespace

WMAUNetConfig WMAUNetConfig::from_yaml(const io::YamlNode& model_params) {
  const io::YamlNode& p = model_params.at_path("wma_config.params");
  auto int_of = [&](const char* key, std::int64_t fallback) { return static_cast<int>(p.get_int(key, fallback)); };
  WMAUNetConfig c;
  c.in_channels = p["in_channels"].as_int();
  c.out_channels = p["out_channels"].as_int();
  c.model_channels = p["model_channels"].as_int();
  c.attention_resolutions = int_list(p["attention_resolutions"]);
  c.num_res_blocks = static_cast<int>(p["num_res_blocks"].as_int());
  c.channel_mult = p.contains("channel_mult") ? int_list(p["channel_mult"]) : std::vector<int>{1, 2, 4, 8};
  c.num_heads = int_of("num_heads", -1);
  c.num_head_channels = int_of("num_head_channels", -1);
  c.transformer_depth = int_of("transformer_depth", 1);
  c.context_dim = p["context_dim"].as_int();
  c.use_linear = p.get_bool("use_linear", false);
  c.temporal_conv = p.get_bool("temporal_conv", false);
  c.temporal_attention = p.get_bool("temporal_attention", true);
  c.addition_attention = p.get_bool("addition_attention", false);
  c.image_cross_attention = p.get_bool("image_cross_attention", false);
  c.fs_condition = p.get_bool("fs_condition", false);
  c.default_fs = int_of("default_fs", 4);
  c.temporal_length = static_cast<int>(p["temporal_length"].as_int());
  c.n_obs_steps = int_of("n_obs_steps", 1);
  c.num_stem_token = int_of("num_stem_token", 1);
  c.base_model_gen_only = p.get_bool("base_model_gen_only", false);
  c.conv_resample = p.get_bool("conv_resample", true);
  c.use_scale_shift_norm = p.get_bool("use_scale_shift_norm", false);
  c.resblock_updown = p.get_bool("resblock_updown", false);
  c.tempspatial_aware = p.get_bool("tempspatial_aware", false);
  c.use_relative_position = p.get_bool("use_relative_position", true);
  c.use_causal_attention = p.get_bool("use_causal_attention", false);
  c.temporal_selfatt_only = p.get_bool("temporal_selfatt_only", true);
  c.cross_attention_scale_learnable = p.get_bool("cross_attention_scale_learnable", false);
  return c;
}

WMAUNet::WMAUNet(WMAUNetConfig config) : config_(std::move(config)) {
  const WMAUNetConfig& c = config_;
  WMA_CHECK(c.num_heads != -1 || c.num_head_channels != -1,
            "[WMAUNet] either num_heads or num_head_channels has to be set");
  WMA_CHECK(c.conv_resample && !c.use_scale_shift_norm && !c.resblock_updown && !c.tempspatial_aware &&
                !c.use_relative_position && !c.use_causal_attention && c.temporal_selfatt_only &&
                !c.cross_attention_scale_learnable,
            "[WMAUNet] unsupported option: conv_resample, use_scale_shift_norm, resblock_updown, tempspatial_aware, "
            "use_relative_position, use_causal_attention, temporal_selfatt_only and cross_attention_scale_learnable "
            "are implemented only at true/false/false/false/false/false/true/false");
  // Upstream's efficient_forward asserts when a context reaches a cross-attention without the
  // image/state/action weights.
  WMA_CHECK(c.image_cross_attention, "[WMAUNet] image_cross_attention false is unsupported (upstream asserts)");
  WMA_CHECK(!c.addition_attention || c.num_head_channels > 0,
            "[WMAUNet] init_attn needs num_head_channels (its head size)");
  WMA_CHECK(!c.channel_mult.empty() && c.num_res_blocks > 0, "[WMAUNet] empty channel_mult or num_res_blocks");
}

int WMAUNet::heads_for(std::int64_t channels) const {
  return config_.num_head_channels == -1 ? config_.num_heads : static_cast<int>(channels / config_.num_head_channels);
}

int WMAUNet::dim_head_for(std::int64_t channels) const {
  return config_.num_head_channels == -1 ? static_cast<int>(channels / config_.num_heads) : config_.num_head_channels;
}

void WMAUNet::load(const nn::WeightBinder& w) {
  const WMAUNetConfig& c = config_;
  dtype_ = w.options().dtype;
  const std::int64_t emb_dim = time_embed_dim();
  time_embed_.first.load(w.child("time_embed").child("0"), c.model_channels, emb_dim);
  time_embed_.second.load(w.child("time_embed").child("2"), emb_dim, emb_dim);
  if (c.fs_condition) {
    fps_embed_.first.load(w.child("fps_embedding").child("0"), c.model_channels, emb_dim);
    fps_embed_.second.load(w.child("fps_embedding").child("2"), emb_dim, emb_dim);
  }

  // Input blocks 1.. use the split state | action (temporal_length * num_stem_token) | text | image;
  // output blocks leave agent_action_context_len at its default 16
  // (docs/upstream.md#output-block-action-length).
  const ContextSplit encoder_split{kTextTokens, c.temporal_length, c.n_obs_steps,
                                   std::int64_t{c.temporal_length} * c.num_stem_token};
  const ContextSplit decoder_split{kTextTokens, c.temporal_length, c.n_obs_steps, 16};

  auto add_transformers = [&](Block& layers, const nn::WeightBinder& bw, std::int64_t ch, std::int64_t ds,
                              const ContextSplit& split) {
    AttentionLayer st;
    st.ds = ds;
    st.transformer.load(bw.child(std::to_string(layers.size())), ch, heads_for(ch), dim_head_for(ch),
                        c.transformer_depth, c.context_dim, c.use_linear, split);
    layers.emplace_back(std::move(st));
    if (c.temporal_attention) {
      TemporalLayer tt;
      tt.transformer.load(bw.child(std::to_string(layers.size())), ch, heads_for(ch), dim_head_for(ch),
                          c.transformer_depth, c.use_linear);
      layers.emplace_back(std::move(tt));
    }
  };
  auto add_resblock = [&](Block& layers, const nn::WeightBinder& bw, std::int64_t in, std::int64_t out) {
    ResBlock rb;
    rb.load(bw.child(std::to_string(layers.size())), in, out, emb_dim, c.temporal_conv);
    layers.emplace_back(std::move(rb));
  };

  const nn::WeightBinder in_w = w.child("input_blocks");
  input_blocks_.clear();
  {
    nn::Conv2d stem;
    stem.load(in_w.child("0").child("0"), c.in_channels, c.model_channels, 3, {1, 1});
    input_blocks_.push_back(Block{std::move(stem)});
  }
  if (c.addition_attention)
    init_attn_.load(w.child("init_attn").child("0"), c.model_channels, kInitAttnHeads, c.num_head_channels,
                    c.transformer_depth, /*use_linear=*/false);

  std::vector<std::int64_t> skip_channels{c.model_channels};
  std::int64_t ch = c.model_channels, ds = 1;
  for (std::size_t level = 0; level < c.channel_mult.size(); ++level) {
    for (int r = 0; r < c.num_res_blocks; ++r) {
      const nn::WeightBinder bw = in_w.child(std::to_string(input_blocks_.size()));
      Block layers;
      add_resblock(layers, bw, ch, c.channel_mult[level] * c.model_channels);
      ch = c.channel_mult[level] * c.model_channels;
      if (contains(c.attention_resolutions, ds)) add_transformers(layers, bw, ch, ds, encoder_split);
      input_blocks_.push_back(std::move(layers));
      skip_channels.push_back(ch);
    }
    if (level + 1 != c.channel_mult.size()) {
      Downsample down;
      down.load(in_w.child(std::to_string(input_blocks_.size())).child("0"), ch);
      input_blocks_.push_back(Block{std::move(down)});
      skip_channels.push_back(ch);
      ds *= 2;
    }
  }

  // The middle block always has both transformers, whatever attention_resolutions says.
  const nn::WeightBinder mw = w.child("middle_block");
  middle_block_.clear();
  add_resblock(middle_block_, mw, ch, ch);
  {
    AttentionLayer st;
    st.ds = ds;
    st.transformer.load(mw.child("1"), ch, heads_for(ch), dim_head_for(ch), c.transformer_depth, c.context_dim,
                        c.use_linear, encoder_split);
    middle_block_.emplace_back(std::move(st));
    if (c.temporal_attention) {
      TemporalLayer tt;
      tt.transformer.load(mw.child("2"), ch, heads_for(ch), dim_head_for(ch), c.transformer_depth, c.use_linear);
      middle_block_.emplace_back(std::move(tt));
    }
  }
  add_resblock(middle_block_, mw, ch, ch);

  const nn::WeightBinder out_w = w.child("output_blocks");
  output_blocks_.clear();
  for (std::size_t level = c.channel_mult.size(); level-- > 0;) {
    for (int i = 0; i <= c.num_res_blocks; ++i) {
      const nn::WeightBinder bw = out_w.child(std::to_string(output_blocks_.size()));
      const std::int64_t skip = skip_channels.back();
      skip_channels.pop_back();
      Block layers;
      add_resblock(layers, bw, ch + skip, c.channel_mult[level] * c.model_channels);
      ch = c.channel_mult[level] * c.model_channels;
      if (contains(c.attention_resolutions, ds)) add_transformers(layers, bw, ch, ds, decoder_split);
      if (level != 0 && i == c.num_res_blocks) {
        Upsample up;
        up.load(bw.child(std::to_string(layers.size())), ch);
        layers.emplace_back(std::move(up));
        ds /= 2;
      }
      output_blocks_.push_back(std::move(layers));
    }
  }

  out_norm_.load(w.child("out").child("0"), 32, ch, 1e-5f);
  out_conv_.load(w.child("out").child("2"), c.model_channels, c.out_channels, 3, {1, 1});
}

Tensor WMAUNet::frame_context(const Tensor& context, std::int64_t frames, const ActionTokenProjector& project) const {
  const WMAUNetConfig& c = config_;
  WMA_CHECK(context.dim() == 3, "[WMAUNet] expected context [B, L, D], got ", context.describe());
  const Tensor ctx = ops::cast(context, dtype_);
  if (c.base_model_gen_only) {
    WMA_CHECK(ctx.size(1) == kTextTokens + c.n_obs_steps * kImageTokensPerFrame,
              "[WMAUNet] base_model_gen_only expects a context of ", kTextTokens + c.n_obs_steps * kImageTokensPerFrame,
              " tokens, got ", ctx.describe());
    return ctx;
  }
  const std::int64_t batch = ctx.size(0), len = ctx.size(1), dim = ctx.size(2), n = c.n_obs_steps;
  const std::int64_t image_tokens = frames * kImageTokensPerFrame;
  const bool with_action = len == n + kActionTokens + kTextTokens + image_tokens;
  if (len != n + kTextTokens + image_tokens && !with_action) return ctx;

  const std::int64_t text_begin = n + (with_action ? kActionTokens : 0);
  Tensor state = ops::repeat_interleave(ctx.slice(1, 0, n), 0, frames);
  Tensor text = ops::repeat_interleave(ctx.slice(1, text_begin, text_begin + kTextTokens), 0, frames);
  // 'b (t l) c -> (b t) l c': frame f takes image tokens 16f..16f+15.
  Tensor image =
      ops::contiguous(ctx.slice(1, text_begin + kTextTokens, len)).reshape({batch * frames, kImageTokensPerFrame, dim});
  if (!with_action) return ops::concat({state, text, image}, 1);

  WMA_CHECK(static_cast<bool>(project), "[WMAUNet] the context carries action tokens but no projector was given");
  // One token per action step o -> the projector's P tokens for that step.
  Tensor tokens = project(ops::contiguous(ctx.slice(1, n, n + kActionTokens)).reshape({batch * kActionTokens, 1, dim}));
  const std::int64_t per_step = tokens.size(1);
  WMA_CHECK(frames == kActionTokens && per_step % frames == 0, "[WMAUNet] the action context layout needs ",
            kActionTokens,
            " frames and projector tokens divisible by "
            "the frame count; got ",
            frames, " frames and ", tokens.describe());
  // '(b o) (t l) d -> (b t) (o l) d': frame f gets, for every action step o, tokens
  // f*l .. f*l + l - 1 of that step's projection.
  const std::int64_t l = per_step / frames;
  Tensor action = ops::contiguous(tokens.reshape({batch, kActionTokens, frames, l, dim}).permute({0, 2, 1, 3, 4}))
                      .reshape({batch * frames, kActionTokens * l, dim});
  return ops::concat({state, action, text, image}, 1);
}

template <typename F>
void WMAUNet::for_each_attention(F&& f) const {
  auto visit = [&](const Block& block) {
    for (const Layer& layer : block)
      if (const auto* st = std::get_if<AttentionLayer>(&layer)) f(*st);
  };
  for (const Block& b : input_blocks_) visit(b);
  visit(middle_block_);
  for (const Block& b : output_blocks_) visit(b);
}

UNetPass WMAUNet::prepare(const Tensor& frame_context, const Tensor& fs, std::int64_t batch, std::int64_t frames,
                          std::int64_t height, std::int64_t width) const {
  const WMAUNetConfig& c = config_;
  WMA_CHECK(frame_context.dim() == 3 && frame_context.size(0) == batch * frames &&
                frame_context.size(2) == c.context_dim,
            "[WMAUNet] expected a per-frame context [", batch * frames, ", L, ", c.context_dim, "], got ",
            frame_context.describe());
  const std::int64_t factor = std::int64_t{1} << (c.channel_mult.size() - 1);
  WMA_CHECK(height % factor == 0 && width % factor == 0, "[WMAUNet] latent size ", height, "x", width,
            " must be divisible by ", factor);
  UNetPass pass;
  pass.batch = batch;
  pass.frames = frames;
  pass.height = height;
  pass.width = width;
  if (c.fs_condition) {
    const Tensor fs_values =
        fs.defined() ? fs : Tensor::from_ints({batch}, std::vector<std::int64_t>(batch, c.default_fs));
    const Device device = frame_context.device();
    const Tensor fs_dev = fs_values.device() == device ? fs_values : ops::to_device(fs_values, device);
    Tensor e =
        ops::cast(ops::timestep_embedding(fs_dev, static_cast<int>(c.model_channels), ops::TimestepStyle::CosSin),
                  dtype_);
    pass.fps_emb = fps_embed_.second(fps_embed_.first(e, {.act = ops::Activation::SiLU}));
  }
  const Tensor ctx = ops::cast(frame_context, dtype_);
  ActionMaskCache masks;
  for_each_attention([&](const AttentionLayer& st) {
    const std::int64_t query_len = (height / st.ds) * (width / st.ds);
    pass.cross_attention.push_back(st.transformer.prepare(ctx, query_len, masks));
  });
  return pass;
}

Tensor WMAUNet::run_block(const Block& block, Tensor h, const Tensor& emb_silu, const UNetPass& pass,
                          std::size_t& attention_slot) const {
  for (const Layer& layer : block) {
    h = std::visit(Overloaded{
                       [&](const nn::Conv2d& conv) { return conv(h); },
                       [&](const ResBlock& rb) { return rb(h, emb_silu, pass.batch); },
                       [&](const AttentionLayer& st) {
                         return st.transformer(h, pass.cross_attention.at(attention_slot++));
                       },
                       [&](const TemporalLayer& tt) { return tt.transformer(h, pass.batch); },
                       [&](const Downsample& down) { return down(h); },
                       [&](const Upsample& up) { return up(h); },
                   },
                   layer);
  }
  return h;
}

UNetOutput WMAUNet::forward(const Tensor& x, const Tensor& t, const UNetPass& pass) const {
  const WMAUNetConfig& c = config_;
  const std::int64_t batch = pass.batch, frames = pass.frames;
  WMA_CHECK(x.dim() == 5 && x.size(0) == batch && x.size(1) == frames && x.size(2) == pass.height &&
                x.size(3) == pass.width && x.size(4) == c.in_channels,
            "[WMAUNet] expected x [", batch, ", ", frames, ", ", pass.height, ", ", pass.width, ", ", c.in_channels,
            "] for this pass, got ", x.describe());

  Tensor t_emb =
      ops::cast(ops::timestep_embedding(t, static_cast<int>(c.model_channels), ops::TimestepStyle::CosSin), dtype_);
  Tensor hidden = time_embed_.first(t_emb, {.act = ops::Activation::SiLU});
  // emb = time_embed(t) + fps_embedding(fs); every ResBlock starts with SiLU(emb).
  Tensor emb =
      pass.fps_emb.defined() ? time_embed_.second(hidden, {.residual = &pass.fps_emb}) : time_embed_.second(hidden);
  const Tensor emb_silu = ops::activation(emb, ops::Activation::SiLU);

  auto as_video = [&](const Tensor& h) { return h.reshape({batch, frames, h.size(1), h.size(2), h.size(3)}); };
  UNetOutput out;
  std::size_t slot = 0;
  Tensor h = ops::cast(x, dtype_).reshape({batch * frames, x.size(2), x.size(3), x.size(4)});
  std::vector<Tensor> skips;
  for (std::size_t id = 0; id < input_blocks_.size(); ++id) {
    const Block& block = input_blocks_[id];
    h = run_block(block, h, emb_silu, pass, slot);
    if (id == 0 && c.addition_attention) h = init_attn_(h, batch);
    // The heads take the last features of each resolution: the block before a Downsample.
    if (id != 0 && std::holds_alternative<Downsample>(block.front())) out.hs_a.push_back(as_video(skips.back()));
    skips.push_back(h);
  }
  out.hs_a.push_back(as_video(h));
  h = run_block(middle_block_, h, emb_silu, pass, slot);
  out.hs_a.push_back(as_video(h));

  Tensor previous;
  for (const Block& block : output_blocks_) {
    h = ops::concat({h, skips.back()}, -1);  // current features first, skip second
    skips.pop_back();
    h = run_block(block, h, emb_silu, pass, slot);
    if (std::holds_alternative<Upsample>(block.back())) out.hs_a.push_back(as_video(previous));
    previous = h;
  }
  out.hs_a.push_back(as_video(h));

  const std::int64_t n = h.size(0), height = h.size(1), width = h.size(2);
  Tensor y = out_norm_(h.reshape({n, height * width, h.size(3)}), ops::Activation::SiLU);
  y = out_conv_(y.reshape({n, height, width, h.size(3)}));
  out.v = ops::cast(as_video(y), DType::F32);
  return out;
}

}  // namespace wma::models
