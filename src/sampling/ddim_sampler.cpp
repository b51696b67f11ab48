#include "sampling/ddim_sampler.h"

#include "core/error.h"
#include "ops/ops.h"

namespace wma::sampling {

Tensor ddim_v_update(const DdimStepCoefficients& s, const Tensor& x, const Tensor& v, const Tensor& noise) {
  const Tensor eps = ops::axpby(s.sqrt_alpha_cumprod, v, s.sqrt_one_minus_alpha_cumprod, x);
  Tensor x0 = ops::axpby(s.sqrt_alpha_cumprod, x, -s.sqrt_one_minus_alpha_cumprod, v);
  if (s.x0_rescale != 1.0f) x0 = ops::scale(x0, s.x0_rescale);
  const Tensor mean = ops::axpby(s.sqrt_alpha_prev, x0, s.dir_coefficient, eps);
  return ops::axpby(1.0f, mean, s.sigma, noise);
}

ops::EpsDdimStep eps_ddim_step_op(const DiffusersDdimStepCoefficients& c, ScalarDivision division) {
  ops::EpsDdimStep s;
  s.sqrt_beta_prod = c.sqrt_beta_prod;
  s.sqrt_alpha_prod = c.sqrt_alpha_prod;
  s.inv_sqrt_alpha_prod = c.inv_sqrt_alpha_prod;
  s.sqrt_alpha_prod_prev = c.sqrt_alpha_prod_prev;
  s.dir_coefficient = c.dir_coefficient;
  s.clip = c.clip;
  s.clip_range = c.clip_range;
  s.multiply_by_reciprocal = division == ScalarDivision::MultiplyByReciprocal;
  return s;
}

JointSample ddim_sample(const VideoSchedule& video, const DdimSchedule& ddim, const DiffusersDdimScheduler& heads,
                        JointSample x, const Denoise& denoise, std::span<const Tensor> step_noise,
                        ScalarDivision division, const StepObserver& observe) {
  const int n = ddim.num_steps();
  WMA_CHECK(static_cast<int>(step_noise.size()) == n, "[sampling] ddim: ", step_noise.size(), " step noises for ", n,
            " steps");
  for (int k = 0; k < n; ++k) {
    const DdimStepCoefficients s = ddim_step_coefficients(video, ddim, n - 1 - k);
    const JointPrediction out = denoise(x, k);
    x.video = ddim_v_update(s, x.video, out.v, step_noise[k]);
    const ops::EpsDdimStep h = eps_ddim_step_op(diffusers_ddim_step_coefficients(heads, s.timestep), division);
    x.actions = ops::eps_ddim_step(out.action_eps, x.actions, h);
    x.states = ops::eps_ddim_step(out.state_eps, x.states, h);
    if (observe) observe(k, x);
  }
  return x;
}

}  // namespace wma::sampling
