// What the multistep ODE solvers (dpm_solver.h, unipc.h) share: each chain's noise levels at the pass's
// timesteps and its data prediction, the x0 these solvers integrate.
//
// A chain at level k is x = (alpha·scale)·x0 + sigma·eps. alpha and sigma are sqrt(ᾱ) and sqrt(1 − ᾱ) of its
// training schedule at the timestep; scale is the video's dynamic rescale (upstream trains on
// x0·scale_arr[t], ddpms.py p_losses), 1 for the heads. The solvers integrate the probability-flow ODE of that
// diffusion, whose signal coefficient is alpha·scale, with the data prediction x0 = model x0 / scale; their
// first-order step is then exactly upstream's DDIM step with eta 0, rescale included. The last level is the
// clean point (sigma 0, scale of t = 0), where diffusers' final_sigmas_type="zero" ends.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "sampling/diffusers_ddim.h"
#include "sampling/sampler.h"
#include "sampling/schedule.h"

namespace wma::sampling {

struct NoiseLevel {
  double alpha = 1;  // sqrt(ᾱ): what the model's v or eps is defined with
  double sigma = 0;
  double scale = 1;
  double signal() const { return alpha * scale; }
  double lambda() const;  // log(signal / sigma), the solvers' time variable
};

// Levels at `timesteps` (evaluation order, noisiest first) plus the clean level, from a schedule's float32 ᾱ and
// its scale_arr (empty: none). A zero-terminal-SNR ᾱ of exactly 0 (λ = −∞) is taken as 2^-24, as diffusers'
// rescale_betas_zero_snr does, so the multistep terms stay finite (they are second order in the first step's
// distance in λ, which would otherwise be infinite).
std::vector<NoiseLevel> noise_levels(std::span<const float> alphas_cumprod, std::span<const float> scale_arr,
                                     std::span<const std::int64_t> timesteps);

struct MultistepSchedule {
  std::vector<std::int64_t> timesteps;  // evaluation order: timesteps[k] is the k-th denoiser call's
  std::vector<NoiseLevel> video;        // timesteps.size() + 1 levels each, the last one clean
  std::vector<NoiseLevel> heads;
  bool head_clip = true;  // the heads' x0 clipped to [−clip_range, clip_range], as their DDIM does
  float head_clip_range = 1.0f;

  int num_steps() const { return static_cast<int>(timesteps.size()); }
};

// The video on upstream's schedule (v-prediction, its ᾱ and scale_arr), the heads on their diffusers schedule
// (epsilon, squaredcos_cap_v2), both at `timesteps` (evaluation order).
MultistepSchedule make_multistep_schedule(const VideoSchedule& video, const DiffusersDdimScheduler& heads,
                                          std::vector<std::int64_t> timesteps);

// x0 / scale = (alpha·x − sigma·v) / scale, one axpby.
Tensor video_data_prediction(const NoiseLevel& level, const Tensor& x, const Tensor& v);
// (x − sigma·eps) / alpha, clipped when `clip`, as one ops::eps_ddim_step.
Tensor head_data_prediction(const NoiseLevel& level, const Tensor& x, const Tensor& eps, bool clip, float clip_range);

// The three chains' data predictions at step k from the denoiser's outputs at x.
JointSample joint_data_prediction(const MultistepSchedule& schedule, int k, const JointSample& x,
                                  const JointPrediction& out);

// c[0]·xs[0] + c[1]·xs[1] + ..., terms with a zero coefficient skipped (a zero coefficient's tensor may be
// undefined); at least the first coefficient is used, so the result always has xs[0]'s shape.
Tensor linear_combination(std::span<const float> c, std::span<const Tensor* const> xs);

}  // namespace wma::sampling
