// The action/state noise scheduler: diffusers v0.30.2 `DDIMScheduler` (schedulers/scheduling_ddim.py:
// betas_for_alpha_bar, __init__, step) with upstream's noise_scheduler_config (squaredcos_cap_v2, epsilon,
// clip_sample, set_alpha_to_one), eta 0, stepped with the video timestep as upstream's DDIMSampler calls it.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <vector>

namespace wma::sampling {

struct DiffusersDdimConfig {
  int num_train_timesteps = 1000;
  bool clip_sample = true;
  float clip_sample_range = 1.0f;
  bool set_alpha_to_one = true;
  // Square roots to take as given (float32 argument bits -> result) instead of correctly rounded ones. step()
  // takes `** 0.5` of 0-dim CPU tensors, also in upstream's CUDA runs, and torch computes them with MKL's
  // vsSqrt: within an ulp, not correctly rounded (438 of the 2002 possible arguments on the fixtures' machine).
  // Parity tests replay the recording machine's values (tests/fixtures/schedules.safetensors dp.host_sqrt.*) to
  // compare scheduler steps bit for bit; empty: std::sqrt.
  std::map<std::uint32_t, float> host_sqrt;
};

struct DiffusersDdimScheduler {
  DiffusersDdimConfig config;
  std::vector<float> betas;           // float32 of the float64 cosine betas
  std::vector<float> alphas_cumprod;  // torch.cumprod of float32 alphas (double accumulator on CPU)
  float final_alpha_cumprod = 1.0f;
  int num_inference_steps = 0;  // set_timesteps(n); only the step stride t - train/n depends on it
};

// squaredcos_cap_v2: min(1 − ab((i+1)/n)/ab(i/n), 0.999), ab(u) = cos((u + 0.008)/1.008 · π/2)², float64.
std::vector<double> squaredcos_cap_v2_betas(int num_train_timesteps);

DiffusersDdimScheduler make_diffusers_ddim_scheduler(const DiffusersDdimConfig& config, int num_inference_steps);

// Float32 scalars of one eta-0 epsilon step at `timestep` (prev = timestep − train/n, ᾱ_prev = final below 0).
struct DiffusersDdimStepCoefficients {
  std::int64_t timestep = 0;
  std::int64_t prev_timestep = 0;
  float sqrt_beta_prod = 0;       // sqrt(1 − ᾱ_t)
  float sqrt_alpha_prod = 0;      // x0 = (x − sqrt_beta_prod·ε) / sqrt_alpha_prod on CPU torch
  float inv_sqrt_alpha_prod = 0;  // float32 1/sqrt_alpha_prod: CUDA torch multiplies by it instead
  float sqrt_alpha_prod_prev = 0;
  float dir_coefficient = 0;  // sqrt(1 − ᾱ_prev − 0²)
  bool clip = true;
  float clip_range = 1.0f;
};

DiffusersDdimStepCoefficients diffusers_ddim_step_coefficients(const DiffusersDdimScheduler& scheduler,
                                                               std::int64_t timestep);

// torch divides a CUDA tensor by a 0-dim CPU tensor as a multiplication by its float32 reciprocal (upstream runs
// the step on CUDA); on CPU tensors it divides. The two differ in the last bit.
enum class ScalarDivision { Divide, MultiplyByReciprocal };

// CPU reference of DDIMScheduler.step(...).prev_sample.
std::vector<float> diffusers_ddim_step(const DiffusersDdimStepCoefficients& c, std::span<const float> eps,
                                       std::span<const float> sample, ScalarDivision division);

}  // namespace wma::sampling
