// diffusers v0.30.2 DDIMScheduler (scheduling_ddim.py) as configured by upstream's world_model_interaction.yaml:
// betas in Python float64 stored float32, float32 alphas, cumprod with a double accumulator (torch CPU), and the
// eta-0 epsilon step with x0 clipping, evaluated in torch's float32 operation order.
#include "sampling/diffusers_ddim.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace wma::sampling {

namespace {

double cosine_alpha_bar(double u) {
  // Python evaluates (u + 0.008) / 1.008 * math.pi / 2 left to right, then `** 2` through libm pow.
  const double c = std::cos((u + 0.008) / 1.008 * std::numbers::pi / 2.0);
  return std::pow(c, 2.0);
}

float host_sqrt(const DiffusersDdimConfig& config, float x) {
  const auto it = config.host_sqrt.find(std::bit_cast<std::uint32_t>(x));
  return it != config.host_sqrt.end() ? it->second : std::sqrt(x);
}

}  // namespace

std::vector<double> squaredcos_cap_v2_betas(int num_train_timesteps) {
  WMA_CHECK(num_train_timesteps >= 1, "[sampling] num_train_timesteps must be positive");
  std::vector<double> betas(num_train_timesteps);
  for (int i = 0; i < num_train_timesteps; ++i) {
    const double t1 = static_cast<double>(i) / num_train_timesteps;
    const double t2 = static_cast<double>(i + 1) / num_train_timesteps;
    betas[i] = std::min(1.0 - cosine_alpha_bar(t2) / cosine_alpha_bar(t1), 0.999);
  }
  return betas;
}

DiffusersDdimScheduler make_diffusers_ddim_scheduler(const DiffusersDdimConfig& config, int num_inference_steps) {
  WMA_CHECK(num_inference_steps >= 1 && num_inference_steps <= config.num_train_timesteps,
            "[sampling] diffusers DDIM: num_inference_steps ", num_inference_steps, " outside [1, ",
            config.num_train_timesteps, "]");
  DiffusersDdimScheduler s;
  s.config = config;
  s.num_inference_steps = num_inference_steps;
  const std::vector<double> betas = squaredcos_cap_v2_betas(config.num_train_timesteps);
  s.betas.assign(betas.begin(), betas.end());
  s.alphas_cumprod.resize(s.betas.size());
  double acc = 1.0;
  for (std::size_t i = 0; i < s.betas.size(); ++i) {
    const float alpha = 1.0f - s.betas[i];
    acc *= static_cast<double>(alpha);
    s.alphas_cumprod[i] = static_cast<float>(acc);
  }
  s.final_alpha_cumprod = config.set_alpha_to_one ? 1.0f : s.alphas_cumprod[0];
  return s;
}

DiffusersDdimStepCoefficients diffusers_ddim_step_coefficients(const DiffusersDdimScheduler& scheduler,
                                                               std::int64_t timestep) {
  const int n_train = scheduler.config.num_train_timesteps;
  WMA_CHECK(scheduler.num_inference_steps >= 1, "[sampling] diffusers DDIM: set_timesteps was not called");
  WMA_CHECK(timestep >= 0 && timestep < n_train, "[sampling] diffusers DDIM: timestep ", timestep, " outside [0, ",
            n_train, ")");
  DiffusersDdimStepCoefficients c;
  c.timestep = timestep;
  c.prev_timestep = timestep - n_train / scheduler.num_inference_steps;
  const float a_t = scheduler.alphas_cumprod[timestep];
  const float a_prev = c.prev_timestep >= 0 ? scheduler.alphas_cumprod[c.prev_timestep] : scheduler.final_alpha_cumprod;
  const DiffusersDdimConfig& config = scheduler.config;
  c.sqrt_beta_prod = host_sqrt(config, 1.0f - a_t);
  c.sqrt_alpha_prod = host_sqrt(config, a_t);
  c.inv_sqrt_alpha_prod = 1.0f / c.sqrt_alpha_prod;
  c.sqrt_alpha_prod_prev = host_sqrt(config, a_prev);
  // eta = 0 makes std_dev_t exactly 0, so the subtraction of its square changes nothing.
  c.dir_coefficient = host_sqrt(config, (1.0f - a_prev) - 0.0f);
  c.clip = scheduler.config.clip_sample;
  c.clip_range = scheduler.config.clip_sample_range;
  return c;
}

std::vector<float> diffusers_ddim_step(const DiffusersDdimStepCoefficients& c, std::span<const float> eps,
                                       std::span<const float> sample, ScalarDivision division) {
  WMA_CHECK(eps.size() == sample.size(), "[sampling] diffusers DDIM step: eps has ", eps.size(),
            " elements, sample has ", sample.size());
  std::vector<float> out(sample.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    const float num = sample[i] - c.sqrt_beta_prod * eps[i];
    float x0 = division == ScalarDivision::Divide ? num / c.sqrt_alpha_prod : num * c.inv_sqrt_alpha_prod;
    // torch.clamp keeps NaN, which these comparisons do too.
    if (c.clip) x0 = x0 < -c.clip_range ? -c.clip_range : (x0 > c.clip_range ? c.clip_range : x0);
    out[i] = c.sqrt_alpha_prod_prev * x0 + c.dir_coefficient * eps[i];
  }
  return out;
}

}  // namespace wma::sampling
