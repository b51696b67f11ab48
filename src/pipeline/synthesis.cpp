// image_guided_synthesis_sim_mode + DDIMSampler of upstream, wired from the model parts; the sampler itself
// (upstream's DDIM, or a multistep ODE solver) is a free function of sampling/ over the denoiser.
#include "pipeline/synthesis.h"

#include <cstring>

#include "core/error.h"
#include "ops/op_profile.h"
#include "ops/ops.h"
#include "pipeline/denoiser_runner.h"
#include "sampling/ddim_sampler.h"
#include "sampling/dpm_solver.h"
#include "sampling/unipc.h"

namespace wma::pipeline {
namespace {

// torch [B, C, T, h, w] / [B, C, h, w] -> channels-last.
Tensor channels_last(const Tensor& t) {
  return ops::contiguous(t.dim() == 5 ? t.permute({0, 2, 3, 4, 1}) : t.permute({0, 2, 3, 1}));
}

}  // namespace

Synthesizer::Synthesizer(const WorldModel& model, const models::ClipTokenizer& tokenizer, const PassOptions& options)
    : model_(model),
      tokenizer_(tokenizer),
      options_(options),
      ddim_(
          sampling::make_ddim_schedule(model.schedule, options.timestep_spacing, options.ddim_steps, options.ddim_eta)),
      head_scheduler_(sampling::make_diffusers_ddim_scheduler(model.config.head_scheduler, options.ddim_steps)),
      decoder_(model.vae, model.options.device, model.config.perframe_ae) {
  if (options.sampler != sampling::SamplerKind::Ddim)
    multistep_ = sampling::make_multistep_schedule(model.schedule, head_scheduler_,
                                                   {ddim_.timesteps.rbegin(), ddim_.timesteps.rend()});
}

Tensor Synthesizer::on_device(const Tensor& host) const {
  return host.device() == model_.options.device ? ops::contiguous(host) : ops::to_device(host, model_.options.device);
}

Tensor Synthesizer::text_embedding(const std::string& prompt) {
  // A server sees arbitrary instructions: keep the cache bounded.
  constexpr std::size_t kMaxCachedPrompts = 64;
  auto it = text_cache_.find(prompt);
  if (it == text_cache_.end() && text_cache_.size() >= kMaxCachedPrompts) text_cache_.clear();
  if (it == text_cache_.end())
    it = text_cache_.emplace(prompt, model_.text_encoder(tokenizer_.tokenize(std::vector<std::string>{prompt}))).first;
  return it->second;
}

bool Synthesizer::reuses_observation(const Tensor& obs_images) const {
  if (obs_images.device() != Device::CPU || !observation_ || observation_->host_images.shape() != obs_images.shape() ||
      observation_->host_images.dtype() != obs_images.dtype())
    return false;
  const Tensor key = ops::contiguous(obs_images);
  return std::memcmp(key.data_ptr(), observation_->host_images.data_ptr(), key.nbytes()) == 0;
}

Synthesizer::ObservationEncoding Synthesizer::encode_observation(const Tensor& obs_images, const Tensor& images) {
  if (reuses_observation(obs_images)) return *observation_;
  ObservationEncoding e;
  // CLIP tokens of the last observation frame -> Resampler; every frame through the VAE's encoder.
  const Tensor last = ops::contiguous(images.select(1, images.size(1) - 1));
  e.image_tokens = model_.image_proj(model_.image_embedder(last));
  e.posterior = model_.vae.encode_frames(images, model_.config.perframe_ae ? 1 : 0);
  if (obs_images.device() != Device::CPU) {  // a key on the device would cost a copy and a synchronisation
    observation_.reset();
    return e;
  }
  e.host_images = Tensor::empty(obs_images.shape(), obs_images.dtype());
  ops::copy_into(e.host_images, obs_images);
  observation_ = std::move(e);
  return *observation_;
}

models::WMAConditioning Synthesizer::condition(const PassInput& in, NoiseSource& noise, ConditionParts* parts) {
  const ops::ScopedOpTag tag("condition");
  const WorldModelConfig& c = model_.config;
  WMA_CHECK(in.obs_images.dim() == 5 && in.obs_images.size(0) == 1 && in.obs_images.size(-1) == 3,
            "[synthesis] observation images must be [1, O, H, W, 3], got ", shape_str(in.obs_images.shape()));
  const std::int64_t frames = in.obs_images.size(1), h = in.obs_images.size(2), w = in.obs_images.size(3);
  const std::int64_t down = c.vae_downscale();
  WMA_CHECK(h == c.video_height() && w == c.video_width(), "[synthesis] observation frames are ", h, "x", w,
            ", the model (", c.source, ") generates ", c.video_height(), "x", c.video_width());
  const Tensor images = on_device(in.obs_images);
  const ObservationEncoding seen = encode_observation(in.obs_images, images);
  const Tensor& image_tokens = seen.image_tokens;

  // Both frames' posteriors sampled (each consumes a CPU-stream draw, older first); the last latent repeated
  // over the video length is c_concat.
  std::vector<Tensor> draws;
  for (std::int64_t f = 0; f < frames; ++f)
    draws.push_back(channels_last(noise.randn_cpu({1, c.vae.embed_dim, h / down, w / down})).unsqueeze(1));
  const Tensor z = model_.vae.sample_first_stage(seen.posterior, on_device(ops::concat(draws, 1)), images);
  const Tensor c_concat = ops::repeat(z.slice(1, frames - 1, frames), 1, options_.video_length);

  const Tensor text = text_embedding(in.prompt);
  const Tensor state = on_device(in.obs_state);
  const Tensor state_emb = model_.projectors.embed_states(state);
  Tensor action_emb = model_.projectors.embed_actions(on_device(in.action));
  if (!in.sim_mode) ops::fill(action_emb, 0.0f);

  // parts->image_tokens is the cache's tensor: its readers must not write to it.
  if (parts) *parts = {text, image_tokens, state_emb, action_emb, z};
  models::WMAConditioning cond;
  // The decision-only server leaves the action tokens out (upstream computes them and discards them).
  cond.context = in.context == ContextLayout::StateTextImage
                     ? ops::concat({state_emb, text, image_tokens}, 1)
                     : ops::concat({state_emb, action_emb, text, image_tokens}, 1);
  cond.c_concat = ops::contiguous(c_concat);
  cond.fs = on_device(Tensor::from_ints({1}, {in.fs}));
  const std::int64_t acting = c.n_obs_steps_acting;
  cond.obs_images = ops::contiguous(images.slice(1, frames - acting, frames));
  cond.obs_state = ops::contiguous(state.slice(1, state.size(1) - acting, state.size(1)));
  return cond;
}

PassOutput Synthesizer::sample(const models::WMAPass& pass, NoiseSource& noise, const std::function<void()>& on_step) {
  const WorldModelConfig& c = model_.config;
  const std::int64_t T = options_.video_length;
  const Shape latent_shape = {1, c.latent_channels, T, pass.unet.height, pass.unet.width};
  const std::int64_t action_dim = c.projectors.agent_action_dim, state_dim = c.projectors.agent_state_dim;
  const Device device = model_.options.device;
  sampling::JointSample start;
  start.video = channels_last(noise.randn_cuda_on(latent_shape, device));
  start.actions = noise.randn_cuda_on({1, T, action_dim}, device);
  start.states = noise.randn_cuda_on({1, T, state_dim}, device);
  // Every step's noise and timestep prepared up front, so nothing is drawn or uploaded inside the loop. The ODE
  // solvers use no step noise but draw it all the same: the stream then goes on as with ddim, so every pass of
  // a run (and every server request) starts from the same x_T whichever sampler is chosen.
  const int n = ddim_.num_steps();
  std::vector<Tensor> step_noise;
  for (int k = 0; k < n; ++k) step_noise.push_back(channels_last(noise.randn_cuda_on(latent_shape, device)));

  std::vector<std::int64_t> timesteps;
  for (int k = 0; k < n; ++k) timesteps.push_back(ddim_.timesteps[n - 1 - k]);
  const Tensor all_t = on_device(Tensor::from_ints({n}, timesteps));
  DenoiserRunner denoiser(model_.diffusion, pass, model_.options.device, cuda_graphs_enabled());
  const sampling::Denoise denoise = [&](const sampling::JointSample& at, int k) {
    const models::WMADenoised& out = denoiser(at.video, at.actions, at.states, all_t.slice(0, k, k + 1));
    return sampling::JointPrediction{out.v, out.action_eps, out.state_eps};
  };
  sampling::StepObserver observe;
  if (on_step) observe = [&](int, const sampling::JointSample&) { on_step(); };
  sampling::JointSample end;
  switch (options_.sampler) {
    case sampling::SamplerKind::Ddim: {
      // Upstream steps the heads' scheduler on CUDA, where torch multiplies by the reciprocal instead of
      // dividing (sampling/diffusers_ddim.h); the CPU backend reproduces upstream's CPU fixtures, which divide.
      const auto division =
          device == Device::CPU ? sampling::ScalarDivision::Divide : sampling::ScalarDivision::MultiplyByReciprocal;
      end =
          sampling::ddim_sample(model_.schedule, ddim_, head_scheduler_, start, denoise, step_noise, division, observe);
      break;
    }
    case sampling::SamplerKind::DpmSolverPP2M:
      end = sampling::dpmpp_2m_sample(multistep_, start, denoise, observe);
      break;
    case sampling::SamplerKind::UniPC: end = sampling::unipc_sample(multistep_, start, denoise, observe); break;
  }
  PassOutput result;
  result.latent = end.video;
  result.actions = ops::to_device(end.actions, Device::CPU);
  result.states = ops::to_device(end.states, Device::CPU);
  return result;
}

Tensor Synthesizer::decode(const Tensor& latent) {
  const ops::ScopedOpTag tag("decode");
  return decoder_(latent);
}

PassOutput Synthesizer::run(const PassInput& input, NoiseSource& noise, Profiler* profiler,
                            const std::function<void()>& on_step) {
  models::WMAPass pass;
  {
    const auto timer = Profiler::scope(profiler, "synthesis/conditioning_prep");
    pass = model_.diffusion.prepare(condition(input, noise));
  }
  PassOutput out;
  {
    const auto timer = Profiler::scope(profiler, "synthesis/ddim_sampling");
    out = sample(pass, noise, on_step);
  }
  if (input.decode == VideoDecode::Skip) return out;
  const auto timer = Profiler::scope(profiler, "synthesis/decode_first_stage");
  out.video = decode(out.latent);
  return out;
}

}  // namespace wma::pipeline
