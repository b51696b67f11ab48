// How far each sampler lands from a converged reference (docs/sampling.md): for every sampler and step count, one
// pass from the same x_T (a fresh noise source of one seed per pass, so conditioning draws and x_T repeat) against
// a many-step DDIM eta 0 pass, in the world-model pass of the interaction loop and in the policy server's decision
// pass. With deterministic weights this measures the solvers' error, not visual quality.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/clip_tokenizer.h"
#include "pipeline/noise.h"
#include "pipeline/synthesis.h"
#include "pipeline/world_model.h"
#include "sampling/sampler.h"

namespace wma::pipeline {

struct AccuracyOptions {
  std::vector<int> steps = {6, 8, 10, 12, 16, 20, 25, 50};
  std::vector<sampling::SamplerKind> samplers = {sampling::SamplerKind::Ddim, sampling::SamplerKind::DpmSolverPP2M,
                                                 sampling::SamplerKind::UniPC};
  int reference_steps = 250;
  sampling::TimestepSpacing spacing = sampling::TimestepSpacing::UniformTrailing;
  std::int64_t psnr_size = 256;  // decoded frames are resized to psnr_size x psnr_size before the PSNR
  bool progress = true;          // one line per pass on stderr
};

enum class AccuracyMode { WorldModel, Decision };
const char* accuracy_mode_name(AccuracyMode mode);

struct AccuracyRow {
  AccuracyMode mode = AccuracyMode::WorldModel;
  sampling::SamplerKind sampler = sampling::SamplerKind::Ddim;
  int steps = 0;
  double latent_rel_l2 = 0;                // ||x − ref|| / ||ref|| of the final latent
  double video_psnr_db = 0;                // decoded video clamped to [-1, 1], as [0, 1] pixels at psnr_size²
  double actions_rms = 0, states_rms = 0;  // RMS difference in normalised units ([-1, 1])
  double sampling_s = 0, pass_s = 0;       // the N-step loop; the whole pass (conditioning, loop, decode)
};

// The demo scene (pipeline/demo.h) as the input of `mode`'s pass: the world-model pass (sim mode, context
// [state | action | text | image], prompt "") or the server's decision pass ([state | text | image]).
PassInput accuracy_input(const WorldModelConfig& config, AccuracyMode mode);

// One reference and every (sampler, steps) pass of `mode`; `noise` makes the fresh source of each pass, `sync`
// waits for the device before a clock is read.
std::vector<AccuracyRow> measure_sampler_accuracy(const WorldModel& model, const models::ClipTokenizer& tokenizer,
                                                  AccuracyMode mode, const AccuracyOptions& options,
                                                  const std::function<std::unique_ptr<NoiseSource>()>& noise,
                                                  const std::function<void()>& sync);

// Markdown: one table per mode, rows by steps then sampler.
std::string accuracy_table(const std::vector<AccuracyRow>& rows, int reference_steps);

// Metrics, public for tests. Relative L2 of two same-shaped tensors; PSNR (dB) of two decoded videos
// [1, T, H, W, 3] in [-1, 1] after clamping and resizing each frame to size x size; RMS of the difference.
double relative_l2(const Tensor& x, const Tensor& reference);
double video_psnr_db(const Tensor& video, const Tensor& reference, std::int64_t size);
double rms_difference(const Tensor& x, const Tensor& reference);

}  // namespace wma::pipeline
