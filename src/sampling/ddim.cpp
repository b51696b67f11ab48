// Video DDIM of upstream's samplers/ddim.py and utils/diffusion.py. Upstream mixes numpy float64 and torch
// float32 here; each quantity below is rounded exactly where that mix rounds it (see docs/sampling.md).
#include "sampling/ddim.h"

#include <cmath>

#include "core/error.h"

namespace wma::sampling {

TimestepSpacing parse_timestep_spacing(std::string_view name) {
  if (name == "uniform") return TimestepSpacing::Uniform;
  if (name == "uniform_trailing") return TimestepSpacing::UniformTrailing;
  fail("[sampling] unknown timestep spacing '", name, "' (expected uniform or uniform_trailing)");
}

std::vector<std::int64_t> ddim_timesteps(TimestepSpacing spacing, int num_ddim_steps, int num_train_timesteps) {
  WMA_CHECK(num_ddim_steps >= 1 && num_ddim_steps <= num_train_timesteps, "[sampling] ddim steps ", num_ddim_steps,
            " outside [1, ", num_train_timesteps, "]");
  std::vector<std::int64_t> ts;
  if (spacing == TimestepSpacing::Uniform) {
    const int c = num_train_timesteps / num_ddim_steps;
    for (int t = 0; t < num_train_timesteps; t += c) ts.push_back(t + 1);
  } else {
    // np.arange(n, 0, -c) with float c: length ceil(-n / -c), element i = start + i·delta where delta is
    // re-derived as (start + step) - start; then np.round (half to even), flip, minus one.
    const double step = -static_cast<double>(num_train_timesteps) / num_ddim_steps;
    const double start = num_train_timesteps;
    const auto len = static_cast<std::int64_t>(std::ceil((0.0 - start) / step));
    const double delta = (start + step) - start;
    ts.resize(len);
    for (std::int64_t i = 0; i < len; ++i) {
      const double value = i == 0 ? start : (i == 1 ? start + step : start + static_cast<double>(i) * delta);
      ts[len - 1 - i] = static_cast<std::int64_t>(std::nearbyint(value)) - 1;
    }
  }
  // Upstream would index out of range (or wrap) here; refuse instead.
  for (auto t : ts)
    WMA_CHECK(t >= 0 && t < num_train_timesteps, "[sampling] ", num_ddim_steps, " DDIM steps give timestep ", t,
              ", outside the schedule");
  return ts;
}

DdimSchedule make_ddim_schedule(const VideoSchedule& schedule, TimestepSpacing spacing, int num_ddim_steps,
                                double eta) {
  const int n_train = schedule.num_timesteps();
  DdimSchedule d;
  d.timesteps = ddim_timesteps(spacing, num_ddim_steps, n_train);
  const auto& ac = schedule.alphas_cumprod;
  for (std::size_t i = 0; i < d.timesteps.size(); ++i) {
    const float a = ac[d.timesteps[i]];
    const float a_prev = i == 0 ? ac[0] : ac[d.timesteps[i - 1]];
    d.alphas.push_back(a);
    d.alphas_prev.push_back(a_prev);
    // alphas is a float32 tensor and alphas_prev a float64 ndarray. `ndarray / tensor` runs
    // Tensor.__rtruediv__, which is tensor.reciprocal() * ndarray: 1/(1 - a) is rounded to float32 first.
    // The remaining operations promote to float64.
    const double inv_one_minus_a = static_cast<double>(1.0f / (1.0f - a));
    const double ap = a_prev;
    const double sigma = eta * std::sqrt(inv_one_minus_a * (1.0 - ap) * (1.0 - static_cast<double>(a) / ap));
    d.sigmas.push_back(static_cast<float>(sigma));
    d.sqrt_one_minus_alphas.push_back(std::sqrt(1.0f - a));
    if (!schedule.scale_arr.empty()) {
      d.scale.push_back(schedule.scale_arr[d.timesteps[i]]);
      d.scale_prev.push_back(i == 0 ? schedule.scale_arr[d.timesteps[0]] : d.scale[i - 1]);
    }
  }
  return d;
}

DdimStepCoefficients ddim_step_coefficients(const VideoSchedule& schedule, const DdimSchedule& ddim, int index) {
  WMA_CHECK(index >= 0 && index < ddim.num_steps(), "[sampling] DDIM index ", index, " outside [0, ", ddim.num_steps(),
            ")");
  DdimStepCoefficients c;
  c.timestep = ddim.timesteps[index];
  c.sqrt_alpha_cumprod = schedule.sqrt_alphas_cumprod[c.timestep];
  c.sqrt_one_minus_alpha_cumprod = schedule.sqrt_one_minus_alphas_cumprod[c.timestep];
  if (!ddim.scale.empty()) c.x0_rescale = ddim.scale_prev[index] / ddim.scale[index];
  const float a_prev = ddim.alphas_prev[index];
  const float sigma = ddim.sigmas[index];
  c.sqrt_alpha_prev = std::sqrt(a_prev);
  // docs/upstream.md#ddim-coefficients-in-float32: at t = 999 this is 2^-24 in float32 for 50 steps; in float64 the
  // sqrt would visibly differ. Its exact value there is 0, and for some step counts (e.g. 25 trailing, eta 1) float32
  // rounding makes it -2^-24, where upstream's sqrt turns the whole latent into NaN; we take 0 instead.
  const float var = (1.0f - a_prev) - sigma * sigma;
  c.dir_coefficient = var > 0.0f ? std::sqrt(var) : 0.0f;
  c.sigma = sigma;
  return c;
}

DdimStepResult ddim_v_step(const DdimStepCoefficients& c, std::span<const float> x, std::span<const float> v) {
  WMA_CHECK(x.size() == v.size(), "[sampling] ddim step: x has ", x.size(), " elements, v has ", v.size());
  const std::size_t n = x.size();
  DdimStepResult r;
  r.pred_x0.resize(n);
  r.eps.resize(n);
  r.x_prev_mean.resize(n);
  r.noise_coefficient = c.sigma;
  for (std::size_t i = 0; i < n; ++i) {
    const float eps = c.sqrt_alpha_cumprod * v[i] + c.sqrt_one_minus_alpha_cumprod * x[i];
    const float x0 = (c.sqrt_alpha_cumprod * x[i] - c.sqrt_one_minus_alpha_cumprod * v[i]) * c.x0_rescale;
    r.eps[i] = eps;
    r.pred_x0[i] = x0;
    r.x_prev_mean[i] = c.sqrt_alpha_prev * x0 + c.dir_coefficient * eps;
  }
  return r;
}

std::vector<float> add_ddim_noise(std::span<const float> x_prev_mean, float sigma, std::span<const float> noise) {
  WMA_CHECK(x_prev_mean.size() == noise.size(), "[sampling] ddim noise has ", noise.size(), " elements, the latent ",
            x_prev_mean.size());
  std::vector<float> out(x_prev_mean.size());
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = x_prev_mean[i] + sigma * noise[i];
  return out;
}

Tensor ddim_v_step(const DdimStepCoefficients& c, const Tensor& x, const Tensor& v, const Tensor& noise) {
  WMA_CHECK(x.shape() == v.shape() && x.shape() == noise.shape(), "[sampling] ddim step shapes differ: x ",
            shape_str(x.shape()), ", v ", shape_str(v.shape()), ", noise ", shape_str(noise.shape()));
  const std::vector<float> xs = x.to_floats();
  const std::vector<float> vs = v.to_floats();
  const std::vector<float> ns = noise.to_floats();
  const DdimStepResult r = ddim_v_step(c, xs, vs);
  return Tensor::from_floats(x.shape(), add_ddim_noise(r.x_prev_mean, r.noise_coefficient, ns));
}

}  // namespace wma::sampling
