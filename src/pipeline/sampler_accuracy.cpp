#include "pipeline/sampler_accuracy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "ops/ops.h"
#include "pipeline/demo.h"
#include "pipeline/image_preprocess.h"
#include "pipeline/profile.h"

namespace wma::pipeline {

namespace {

std::vector<float> host_floats(const Tensor& t) { return ops::to_device(t, Device::CPU).to_floats(); }

// One decoded frame [H, W, 3] in [-1, 1] as clamped [0, 1] planar pixels at size x size.
std::vector<float> frame_pixels(const std::vector<float>& video, std::int64_t frame, std::int64_t h, std::int64_t w,
                                std::int64_t size) {
  std::vector<float> planar(3 * h * w);
  const float* src = video.data() + frame * h * w * 3;
  for (std::int64_t p = 0; p < h * w; ++p)
    for (std::int64_t c = 0; c < 3; ++c)
      planar[c * h * w + p] = (std::clamp(src[p * 3 + c], -1.0f, 1.0f) + 1.0f) * 0.5f;
  if (h == size && w == size) return planar;
  return resize_bilinear_antialias(Tensor::from_floats({3, h, w}, planar), size, size).to_floats();
}

std::string format_metric(double v, const char* format) {
  if (std::isinf(v)) return "inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

}  // namespace

const char* accuracy_mode_name(AccuracyMode mode) {
  return mode == AccuracyMode::WorldModel ? "world-model pass" : "decision pass";
}

double relative_l2(const Tensor& x, const Tensor& reference) {
  WMA_CHECK(x.shape() == reference.shape(), "[accuracy] shapes differ: ", x.describe(), " vs ", reference.describe());
  const std::vector<float> a = host_floats(x), b = host_floats(reference);
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    norm += static_cast<double>(b[i]) * b[i];
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

double rms_difference(const Tensor& x, const Tensor& reference) {
  WMA_CHECK(x.shape() == reference.shape(), "[accuracy] shapes differ: ", x.describe(), " vs ", reference.describe());
  const std::vector<float> a = host_floats(x), b = host_floats(reference);
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    sum += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
  return a.empty() ? 0.0 : std::sqrt(sum / static_cast<double>(a.size()));
}

double video_psnr_db(const Tensor& video, const Tensor& reference, std::int64_t size) {
  WMA_CHECK(video.shape() == reference.shape() && video.dim() == 5 && video.size(0) == 1 && video.size(4) == 3,
            "[accuracy] expected two videos [1, T, H, W, 3], got ", video.describe(), " and ", reference.describe());
  const std::int64_t frames = video.size(1), h = video.size(2), w = video.size(3);
  const std::vector<float> a = host_floats(video), b = host_floats(reference);
  double sum = 0;
  std::size_t count = 0;
  for (std::int64_t f = 0; f < frames; ++f) {
    const std::vector<float> pa = frame_pixels(a, f, h, w, size), pb = frame_pixels(b, f, h, w, size);
    for (std::size_t i = 0; i < pa.size(); ++i)
      sum += (static_cast<double>(pa[i]) - pb[i]) * (static_cast<double>(pa[i]) - pb[i]);
    count += pa.size();
  }
  const double mse = sum / static_cast<double>(count);
  return mse > 0 ? 10.0 * std::log10(1.0 / mse) : INFINITY;
}

PassInput accuracy_input(const WorldModelConfig& config, AccuracyMode mode) {
  const std::int64_t observations = config.n_obs_steps_imagen, frames = config.wma.unet.temporal_length;
  const std::int64_t state_pad = config.projectors.agent_state_dim, action_pad = config.projectors.agent_action_dim;
  const DemoScene scene = make_demo_scene(config.video_height(), config.video_width(), state_pad);
  std::vector<float> states;
  for (std::int64_t o = 0; o < observations; ++o) states.insert(states.end(), scene.state.begin(), scene.state.end());
  PassInput in;
  in.obs_images = ops::repeat(scene.image.unsqueeze(0), 0, observations).unsqueeze(0);
  in.obs_state = Tensor::from_floats({1, observations, state_pad}, states);
  in.action = Tensor::zeros({1, frames, action_pad});
  if (mode == AccuracyMode::WorldModel) {
    in.prompt = "";
    in.sim_mode = true;
    in.fs = 7;  // unitree_z1_stackbox at frame stride 4, as `wma bench` times it
  } else {
    in.prompt = scene.instruction;
    in.sim_mode = false;
    in.fs = 15;  // the server's int(30 / frame_stride) at run_real_eval_server.sh's frame stride 2
    in.context = ContextLayout::StateTextImage;
  }
  return in;
}

std::vector<AccuracyRow> measure_sampler_accuracy(const WorldModel& model, const models::ClipTokenizer& tokenizer,
                                                  AccuracyMode mode, const AccuracyOptions& options,
                                                  const std::function<std::unique_ptr<NoiseSource>()>& noise,
                                                  const std::function<void()>& sync) {
  const PassInput input = accuracy_input(model.config, mode);
  struct Pass {
    PassOutput out;
    double sampling_s = 0, pass_s = 0;
  };
  const auto run = [&](sampling::SamplerKind sampler, int steps) {
    PassOptions pass;
    pass.sampler = sampler;
    pass.ddim_steps = steps;
    pass.ddim_eta = 0.0;
    pass.timestep_spacing = options.spacing;
    pass.video_length = static_cast<int>(model.config.wma.unet.temporal_length);
    Synthesizer synth(model, tokenizer, pass);
    Profiler profiler(sync);
    const std::unique_ptr<NoiseSource> source = noise();
    Pass p;
    p.out = synth.run(input, *source, &profiler);
    p.out.latent = ops::to_device(p.out.latent, Device::CPU);
    p.out.video = ops::to_device(p.out.video, Device::CPU);
    p.sampling_s = profiler.total("synthesis/ddim_sampling");
    p.pass_s =
        p.sampling_s + profiler.total("synthesis/conditioning_prep") + profiler.total("synthesis/decode_first_stage");
    if (options.progress)
      std::fprintf(stderr, "[accuracy] %s: %s %d steps, %.3f s\n", accuracy_mode_name(mode),
                   std::string(sampling::sampler_name(sampler)).c_str(), steps, p.pass_s);
    return p;
  };
  // Untimed: the first pass on a device pays for plans, kernels' first launches and the pool's growth.
  const int fewest = *std::min_element(options.steps.begin(), options.steps.end());
  run(sampling::SamplerKind::Ddim, fewest);
  const Pass reference = run(sampling::SamplerKind::Ddim, options.reference_steps);

  std::vector<AccuracyRow> rows;
  for (const int steps : options.steps)
    for (const sampling::SamplerKind sampler : options.samplers) {
      const Pass p = run(sampler, steps);
      AccuracyRow r;
      r.mode = mode;
      r.sampler = sampler;
      r.steps = steps;
      r.latent_rel_l2 = relative_l2(p.out.latent, reference.out.latent);
      r.video_psnr_db = video_psnr_db(p.out.video, reference.out.video, options.psnr_size);
      r.actions_rms = rms_difference(p.out.actions, reference.out.actions);
      r.states_rms = rms_difference(p.out.states, reference.out.states);
      r.sampling_s = p.sampling_s;
      r.pass_s = p.pass_s;
      rows.push_back(r);
    }
  return rows;
}

std::string accuracy_table(const std::vector<AccuracyRow>& rows, int reference_steps) {
  std::string out;
  for (const AccuracyMode mode : {AccuracyMode::WorldModel, AccuracyMode::Decision}) {
    bool header = false;
    for (const AccuracyRow& r : rows) {
      if (r.mode != mode) continue;
      if (!header) {
        out += std::string(out.empty() ? "" : "\n") + "### " + accuracy_mode_name(mode) + ": against DDIM eta 0, " +
               std::to_string(reference_steps) +
               " steps, from the same x_T\n\n"
               "| steps | sampler | latent rel. L2 | video PSNR (dB) | actions RMS | states RMS | sampling (s) | pass "
               "(s) |\n"
               "|---:|---|---:|---:|---:|---:|---:|---:|\n";
        header = true;
      }
      out += "| " + std::to_string(r.steps) + " | " + std::string(sampling::sampler_name(r.sampler)) + " | " +
             format_metric(r.latent_rel_l2, "%.3e") + " | " + format_metric(r.video_psnr_db, "%.2f") + " | " +
             format_metric(r.actions_rms, "%.3e") + " | " + format_metric(r.states_rms, "%.3e") + " | " +
             format_metric(r.sampling_s, "%.3f") + " | " + format_metric(r.pass_s, "%.3f") + " |\n";
    }
  }
  return out;
}

}  // namespace wma::pipeline
