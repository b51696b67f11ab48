#include "sampling/dpm_solver.h"

#include <array>

#include "core/error.h"

namespace wma::sampling {

int dpmpp_2m_order(int k, int n) { return k == 0 || k == n - 1 ? 1 : 2; }

MultistepUpdate dpmpp_2m_update(std::span<const NoiseLevel> levels, int k, int order) {
  WMA_CHECK(k >= 0 && k + 1 < static_cast<int>(levels.size()), "[sampling] dpm-solver step ", k, " outside [0, ",
            levels.size() - 1, ")");
  WMA_CHECK(order == 1 || (order == 2 && k >= 1), "[sampling] dpm-solver order ", order, " at step ", k);
  const NoiseLevel& now = levels[k];
  const NoiseLevel& next = levels[k + 1];
  // e^{−h} = (α·σ')/(σ·α') as a ratio rather than through λ, so the step to σ' = 0 (h = ∞) stays finite.
  const double sigma_ratio = next.sigma / now.sigma;
  const double exp_neg_h = sigma_ratio * now.signal() / next.signal();
  const double a = next.signal() * (exp_neg_h - 1.0);  // α'(e^{−h} − 1), negative
  MultistepUpdate u;
  u.sample = static_cast<float>(sigma_ratio);
  if (order == 1) {
    u.data = static_cast<float>(-a);
    return u;
  }
  const double h = next.lambda() - now.lambda();
  const double r = (now.lambda() - levels[k - 1].lambda()) / h;
  u.data = static_cast<float>(-a * (1.0 + 0.5 / r));
  u.previous = static_cast<float>(0.5 * a / r);
  return u;
}

JointSample dpmpp_2m_step(const MultistepSchedule& schedule, int k, int order, const JointSample& x,
                          const JointSample& data, const JointSample& previous) {
  const auto step = [&](const std::vector<NoiseLevel>& levels, const Tensor& sample, const Tensor& d,
                        const Tensor& d_prev) {
    const MultistepUpdate u = dpmpp_2m_update(levels, k, order);
    const std::array<float, 3> c{u.sample, u.data, u.previous};
    const std::array<const Tensor*, 3> xs{&sample, &d, &d_prev};
    return linear_combination(c, xs);
  };
  return {step(schedule.video, x.video, data.video, previous.video),
          step(schedule.heads, x.actions, data.actions, previous.actions),
          step(schedule.heads, x.states, data.states, previous.states)};
}

JointSample dpmpp_2m_sample(const MultistepSchedule& schedule, JointSample x, const Denoise& denoise,
                            const StepObserver& observe) {
  const int n = schedule.num_steps();
  JointSample previous;  // the data predictions of the step before
  for (int k = 0; k < n; ++k) {
    const JointSample data = joint_data_prediction(schedule, k, x, denoise(x, k));
    x = dpmpp_2m_step(schedule, k, dpmpp_2m_order(k, n), x, data, previous);
    previous = data;
    if (observe) observe(k, x);
  }
  return x;
}

}  // namespace wma::sampling
