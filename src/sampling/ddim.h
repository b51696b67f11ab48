// Video DDIM sampling as upstream's DDIMSampler does it (src/unifolm_wma/models/samplers/ddim.py: make_schedule,
// p_sample_ddim; utils/diffusion.py: make_ddim_timesteps, make_ddim_sampling_parameters), v-parameterisation,
// with the dynamic-rescale quirk. Coefficients are float32 scalars the pipeline applies with tensor ops.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "sampling/schedule.h"

namespace wma::sampling {

enum class TimestepSpacing { Uniform, UniformTrailing };

TimestepSpacing parse_timestep_spacing(std::string_view name);  // "uniform" | "uniform_trailing"

// Ascending, as upstream stores them; sampling walks them from the last to the first. `uniform` can return more
// than num_ddim_steps entries when num_ddim_steps does not divide num_train_timesteps (upstream does the same).
std::vector<std::int64_t> ddim_timesteps(TimestepSpacing spacing, int num_ddim_steps, int num_train_timesteps);

// Per-index DDIM parameters, index i pairing with timesteps[i].
struct DdimSchedule {
  std::vector<std::int64_t> timesteps;
  std::vector<float> alphas;                 // ᾱ[t_i]
  std::vector<float> alphas_prev;            // ᾱ[t_{i-1}], and ᾱ[0] (not 1) for i = 0
  std::vector<float> sigmas;                 // eta-scaled, float64 math rounded to float32
  std::vector<float> sqrt_one_minus_alphas;  // float32 sqrt(1 - alphas)
  std::vector<float> scale;                  // scale_arr[t_i]; empty without dynamic rescale
  std::vector<float> scale_prev;             // scale[i-1], and scale[0] for i = 0

  int num_steps() const { return static_cast<int>(timesteps.size()); }
};

DdimSchedule make_ddim_schedule(const VideoSchedule& schedule, TimestepSpacing spacing, int num_ddim_steps, double eta);

// Everything one v-prediction step needs, as the float32 values upstream materialises with torch.full.
struct DdimStepCoefficients {
  std::int64_t timestep = 0;
  float sqrt_alpha_cumprod = 0;  // model buffer at t: eps = a·v + b·x, x0 = a·x − b·v
  float sqrt_one_minus_alpha_cumprod = 0;
  float x0_rescale = 1;  // scale_prev / scale (float32 division); 1 without dynamic rescale
  float sqrt_alpha_prev = 0;
  float dir_coefficient = 0;  // sqrt((1 − a_prev) − σ·σ), all float32
  float sigma = 0;            // noise coefficient
};

DdimStepCoefficients ddim_step_coefficients(const VideoSchedule& schedule, const DdimSchedule& ddim, int index);

struct DdimStepResult {
  std::vector<float> pred_x0;  // after the dynamic rescale
  std::vector<float> eps;
  std::vector<float> x_prev_mean;  // x_{t-1} before the noise term
  float noise_coefficient = 0;     // x_{t-1} = x_prev_mean + noise_coefficient·noise
};

// CPU reference of one step, each float32 operation rounded where upstream's separate torch ops round.
DdimStepResult ddim_v_step(const DdimStepCoefficients& c, std::span<const float> x, std::span<const float> v);
// x_prev_mean + sigma·noise, as upstream adds the scaled noise last.
std::vector<float> add_ddim_noise(std::span<const float> x_prev_mean, float sigma, std::span<const float> noise);
// The whole step on CPU tensors of one shape; returns a contiguous float32 x_{t-1}.
Tensor ddim_v_step(const DdimStepCoefficients& c, const Tensor& x, const Tensor& v, const Tensor& noise);

}  // namespace wma::sampling
