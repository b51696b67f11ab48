#include "sampling/unipc.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "core/error.h"
#include "sampling/dpm_solver.h"

namespace wma::sampling {

int unipc_order(int k, int n) { return std::min({2, n - k, k + 1}); }

UniCorrection unipc_correction(std::span<const NoiseLevel> levels, int k, int order) {
  WMA_CHECK(k >= 1 && k + 1 < static_cast<int>(levels.size()), "[sampling] unipc correction at step ", k);
  WMA_CHECK(order == 1 || (order == 2 && k >= 2), "[sampling] unipc corrector order ", order, " at step ", k);
  const NoiseLevel& before = levels[k - 1];
  const NoiseLevel& now = levels[k];
  const double h = now.lambda() - before.lambda();
  const double hh = -h;
  const double h_phi_1 = std::expm1(hh);
  const double b_h = h_phi_1;  // bh2
  // x^c = (σ_k/σ_{k−1})·x − α_k·h_phi_1·D_{k−1} − α_k·B(h)·(ρ_0·(D_{k−2} − D_{k−1})/r + ρ_1·(D_k − D_{k−1})).
  double rho0 = 0, rho1 = 0.5, r = 1;
  if (order == 2) {
    r = (levels[k - 2].lambda() - before.lambda()) / h;
    const double phi_2 = h_phi_1 / hh - 1.0;
    const double phi_3 = phi_2 / hh - 0.5;
    const double b0 = phi_2 / b_h, b1 = phi_3 * 2.0 / b_h;
    // [[1, 1], [r, 1]]·ρ = b
    rho0 = (b0 - b1) / (1.0 - r);
    rho1 = b0 - rho0;
  }
  const double a = now.signal() * b_h;
  UniCorrection c;
  c.sample = static_cast<float>(now.sigma / before.sigma);
  c.current = static_cast<float>(-a * rho1);
  c.previous = static_cast<float>(-now.signal() * h_phi_1 + a * rho1 + a * rho0 / r);
  c.older = static_cast<float>(-a * rho0 / r);
  return c;
}

JointSample unipc_sample(const MultistepSchedule& schedule, JointSample x, const Denoise& denoise,
                         const StepObserver& observe) {
  const int n = schedule.num_steps();
  JointSample last;             // the previous step's corrected sample, what its prediction started from
  JointSample previous, older;  // data predictions of the two steps before
  for (int k = 0; k < n; ++k) {
    const JointSample data = joint_data_prediction(schedule, k, x, denoise(x, k));
    // The last step's correction would only feed the step to the clean level, which does not read the sample.
    if (k > 0 && k < n - 1) {
      const int order = unipc_order(k - 1, n);
      const auto correct = [&](const std::vector<NoiseLevel>& levels, const Tensor& base, const Tensor& d,
                               const Tensor& d_prev, const Tensor& d_older) {
        const UniCorrection u = unipc_correction(levels, k, order);
        const std::array<float, 4> c{u.sample, u.current, u.previous, u.older};
        const std::array<const Tensor*, 4> xs{&base, &d, &d_prev, &d_older};
        return linear_combination(c, xs);
      };
      x.video = correct(schedule.video, last.video, data.video, previous.video, older.video);
      x.actions = correct(schedule.heads, last.actions, data.actions, previous.actions, older.actions);
      x.states = correct(schedule.heads, last.states, data.states, previous.states, older.states);
    }
    last = x;
    x = dpmpp_2m_step(schedule, k, unipc_order(k, n), x, data, previous);
    older = previous;
    previous = data;
    if (observe) observe(k, x);
  }
  return x;
}

}  // namespace wma::sampling
