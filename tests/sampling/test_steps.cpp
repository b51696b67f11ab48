// The per-step updates: video DDIM with v-prediction (upstream ddim.py p_sample_ddim) and the diffusers v0.30.2
// DDIMScheduler used for actions and states, checked on exactly solvable denoisers and the reference numbers of
// docs/upstream.md#ddim-parameters.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "core/tensor.h"
#include "sampling/ddim.h"
#include "sampling/diffusers_ddim.h"
#include "sampling/schedule.h"

namespace wma::sampling {
namespace {

std::vector<float> uniform_values(std::size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

std::vector<float> normal_values(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist;
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

TEST(DdimStep, FloatOperationOrder) {
  DdimStepCoefficients c;
  c.sqrt_alpha_cumprod = 0.3f;
  c.sqrt_one_minus_alpha_cumprod = 0.9f;
  c.x0_rescale = 1.0214822f;
  c.sqrt_alpha_prev = 0.7f;
  c.dir_coefficient = 0.6f;
  c.sigma = 0.2f;
  const std::vector<float> x = {1.1f, -0.3f}, v = {0.4f, 2.5f}, n = {-1.3f, 0.8f};
  const DdimStepResult r = ddim_v_step(c, x, v);
  for (int i = 0; i < 2; ++i) {
    const float av = c.sqrt_alpha_cumprod * v[i], bx = c.sqrt_one_minus_alpha_cumprod * x[i];
    const float eps = av + bx;
    const float ax = c.sqrt_alpha_cumprod * x[i], bv = c.sqrt_one_minus_alpha_cumprod * v[i];
    const float x0 = (ax - bv) * c.x0_rescale;
    const float mean = c.sqrt_alpha_prev * x0 + c.dir_coefficient * eps;
    EXPECT_EQ(r.eps[i], eps);
    EXPECT_EQ(r.pred_x0[i], x0);
    EXPECT_EQ(r.x_prev_mean[i], mean);
    EXPECT_EQ(add_ddim_noise(r.x_prev_mean, c.sigma, n)[i], mean + c.sigma * n[i]);
  }
  EXPECT_EQ(r.noise_coefficient, 0.2f);
  EXPECT_THROW(ddim_v_step(c, x, std::vector<float>{1.0f}), Error);
}

TEST(DdimStep, TensorOverloadMatchesSpanSteps) {
  const VideoSchedule s = make_video_schedule({});
  const DdimSchedule d = make_ddim_schedule(s, TimestepSpacing::UniformTrailing, 50, 1.0);
  const DdimStepCoefficients c = ddim_step_coefficients(s, d, 19);
  const auto x = normal_values(24, 1), v = normal_values(24, 2), n = normal_values(24, 3);
  const Tensor out = ddim_v_step(c, Tensor::from_floats({1, 2, 3, 4}, x), Tensor::from_floats({1, 2, 3, 4}, v),
                                 Tensor::from_floats({1, 2, 3, 4}, n));
  EXPECT_EQ(out.shape(), (Shape{1, 2, 3, 4}));
  EXPECT_EQ(out.to_floats(), add_ddim_noise(ddim_v_step(c, x, v).x_prev_mean, c.sigma, n));
  EXPECT_THROW(ddim_v_step(c, Tensor::from_floats({24}, x), Tensor::from_floats({1, 24}, v),
                           Tensor::from_floats({24}, n)),
               Error);
}

// A denoiser that knows x0 predicts the true v of x_t; deterministic DDIM then keeps ε fixed and lands on
// sqrt(ᾱ_0)·x0 + sqrt(1 − ᾱ_0)·ε (the final a_prev is ᾱ_0, not 1), with x̂0 = x0 · rescale at every step.
void run_oracle(bool dynamic_rescale) {
  VideoScheduleConfig cfg;
  cfg.use_dynamic_rescale = dynamic_rescale;
  const VideoSchedule s = make_video_schedule(cfg);
  const DdimSchedule d = make_ddim_schedule(s, TimestepSpacing::UniformTrailing, 50, 0.0);
  const std::size_t n = 64;
  const auto x0 = uniform_values(n, -1.5f, 1.5f, 7);
  const auto eps0 = normal_values(n, 8);
  std::vector<float> x = eps0;  // ᾱ_999 = 0: x_T is pure noise
  for (int i = d.num_steps() - 1; i >= 0; --i) {
    const DdimStepCoefficients c = ddim_step_coefficients(s, d, i);
    const double sa = std::sqrt(static_cast<double>(s.alphas_cumprod[c.timestep]));
    const double sb = std::sqrt(1.0 - s.alphas_cumprod[c.timestep]);
    std::vector<float> v(n);
    for (std::size_t k = 0; k < n; ++k) {
      // The ε consistent with x_t and x0, and the v the model would predict.
      const double e = (x[k] - sa * x0[k]) / sb;
      v[k] = static_cast<float>(sa * e - sb * x0[k]);
    }
    const DdimStepResult r = ddim_v_step(c, x, v);
    EXPECT_EQ(r.noise_coefficient, 0.0f);
    for (std::size_t k = 0; k < n; ++k) {
      ASSERT_NEAR(r.pred_x0[k], x0[k] * c.x0_rescale, 2e-5) << "step " << i;
      // A rescaled x̂0 moves x_{t-1} off the oracle's trajectory, so ε stays fixed only without rescale.
      if (!dynamic_rescale) ASSERT_NEAR(r.eps[k], eps0[k], 2e-3) << "step " << i;
    }
    x = add_ddim_noise(r.x_prev_mean, 0.0f, std::vector<float>(n, 0.0f));
  }
  // Without rescale the chain ends at q(x_0 | x0, ε); with it, x̂0 was scaled on steps 1..19, so only check that the
  // last step keeps its scale of 1 (docs/upstream.md#dynamic-rescale-on-the-last-step) and the result stays near x0.
  const float a0 = s.alphas_cumprod[0];
  for (std::size_t k = 0; k < n; ++k) {
    const double expect = std::sqrt(static_cast<double>(a0)) * x0[k] + std::sqrt(1.0 - a0) * eps0[k];
    EXPECT_NEAR(x[k], expect, dynamic_rescale ? 0.2 : 2e-5);
  }
}

TEST(DdimStep, OracleDenoiserRecoversX0) { run_oracle(false); }
TEST(DdimStep, OracleDenoiserWithDynamicRescale) { run_oracle(true); }

TEST(DdimStep, EtaOneIsNoiseInjection) {
  // With eta 1 and the oracle, x_{t-1} − x_prev_mean is exactly σ·noise; noise of zero reproduces the mean.
  const VideoSchedule s = make_video_schedule({});
  const DdimSchedule d = make_ddim_schedule(s, TimestepSpacing::UniformTrailing, 50, 1.0);
  const DdimStepCoefficients c = ddim_step_coefficients(s, d, 0);
  const auto x = normal_values(16, 4), v = normal_values(16, 5);
  const DdimStepResult r = ddim_v_step(c, x, v);
  EXPECT_EQ(add_ddim_noise(r.x_prev_mean, r.noise_coefficient, std::vector<float>(16, 0.0f)), r.x_prev_mean);
  EXPECT_EQ(add_ddim_noise(std::vector<float>(16, 0.0f), r.noise_coefficient, std::vector<float>(16, 1.0f))[3],
            0.0285072532f);
}

TEST(DiffusersDdim, CosineAlphasMatchReferenceTable) {
  const DiffusersDdimScheduler sch = make_diffusers_ddim_scheduler({}, 50);
  ASSERT_EQ(sch.alphas_cumprod.size(), 1000u);
  // docs/upstream.md#ddim-parameters, the cos(t) column.
  EXPECT_EQ(sch.alphas_cumprod[999], 2.42873499e-09f);
  EXPECT_EQ(sch.alphas_cumprod[979], 0.000971192843f);
  EXPECT_EQ(sch.alphas_cumprod[959], 0.00388099928f);
  EXPECT_EQ(sch.alphas_cumprod[519], 0.462706715f);
  EXPECT_EQ(sch.alphas_cumprod[499], 0.493843466f);
  EXPECT_EQ(sch.alphas_cumprod[419], 0.617424488f);
  EXPECT_EQ(sch.alphas_cumprod[399], 0.647478044f);
  EXPECT_EQ(sch.alphas_cumprod[379], 0.676959157f);
  EXPECT_EQ(sch.alphas_cumprod[219], 0.879122436f);
  EXPECT_EQ(sch.alphas_cumprod[199], 0.898706019f);
  EXPECT_EQ(sch.alphas_cumprod[39], 0.994569957f);
  EXPECT_EQ(sch.alphas_cumprod[19], 0.998252451f);
  EXPECT_EQ(sch.final_alpha_cumprod, 1.0f);
  for (int t = 1; t < 1000; ++t) EXPECT_LT(sch.alphas_cumprod[t], sch.alphas_cumprod[t - 1]) << t;
  for (float b : sch.betas) EXPECT_LE(b, 0.999f);
}

TEST(DiffusersDdim, StepCoefficientsUseVideoTimestepMinusStride) {
  const DiffusersDdimScheduler sch = make_diffusers_ddim_scheduler({}, 50);
  const auto c = diffusers_ddim_step_coefficients(sch, 999);
  EXPECT_EQ(c.prev_timestep, 979);
  EXPECT_EQ(c.sqrt_alpha_prod_prev, std::sqrt(sch.alphas_cumprod[979]));
  EXPECT_EQ(c.inv_sqrt_alpha_prod, 1.0f / std::sqrt(sch.alphas_cumprod[999]));
  const auto last = diffusers_ddim_step_coefficients(sch, 19);
  EXPECT_EQ(last.prev_timestep, -1);
  EXPECT_EQ(last.sqrt_alpha_prod_prev, 1.0f);
  EXPECT_EQ(last.dir_coefficient, 0.0f);
  // 16 steps: stride 62, while the video's next timestep is 874 (docs/upstream.md#action-and-state-scheduler).
  const auto c16 = diffusers_ddim_step_coefficients(make_diffusers_ddim_scheduler({}, 16), 937);
  EXPECT_EQ(c16.prev_timestep, 875);
  EXPECT_THROW(diffusers_ddim_step_coefficients(sch, 1000), Error);
  DiffusersDdimConfig no_one;
  no_one.set_alpha_to_one = false;
  const DiffusersDdimScheduler sch0 = make_diffusers_ddim_scheduler(no_one, 50);
  EXPECT_EQ(diffusers_ddim_step_coefficients(sch0, 19).sqrt_alpha_prod_prev, std::sqrt(sch0.alphas_cumprod[0]));
}

TEST(DiffusersDdim, LastStepReturnsClippedX0) {
  const DiffusersDdimScheduler sch = make_diffusers_ddim_scheduler({}, 50);
  const auto c = diffusers_ddim_step_coefficients(sch, 19);
  const std::vector<float> sample = {3.0f, -3.0f, 0.25f}, eps = {0.0f, 0.0f, 0.0f};
  for (auto div : {ScalarDivision::Divide, ScalarDivision::MultiplyByReciprocal}) {
    const auto out = diffusers_ddim_step(c, eps, sample, div);
    EXPECT_EQ(out[0], 1.0f);
    EXPECT_EQ(out[1], -1.0f);
    EXPECT_NEAR(out[2], 0.25f / std::sqrt(sch.alphas_cumprod[19]), 1e-7);
  }
  EXPECT_EQ(diffusers_ddim_step(c, eps, sample, ScalarDivision::Divide)[2], 0.25f / c.sqrt_alpha_prod);
  EXPECT_EQ(diffusers_ddim_step(c, eps, sample, ScalarDivision::MultiplyByReciprocal)[2],
            0.25f * c.inv_sqrt_alpha_prod);
}

// Stepped with the video timesteps 999, 979, ..., 19 and an ε oracle, eta-0 DDIM returns x0 exactly at the end
// (ᾱ_prev = 1 on the last step), as long as x0 lies inside the clip range.
TEST(DiffusersDdim, OracleDenoiserRecoversX0) {
  const DiffusersDdimScheduler sch = make_diffusers_ddim_scheduler({}, 50);
  const std::size_t n = 256;
  const auto x0 = uniform_values(n, -0.95f, 0.95f, 11);
  for (auto div : {ScalarDivision::Divide, ScalarDivision::MultiplyByReciprocal}) {
    std::vector<float> x = normal_values(n, 12);
    for (std::int64_t t = 999; t >= 19; t -= 20) {
      const auto c = diffusers_ddim_step_coefficients(sch, t);
      const double a = sch.alphas_cumprod[t];
      std::vector<float> eps(n);
      for (std::size_t k = 0; k < n; ++k)
        eps[k] = static_cast<float>((x[k] - std::sqrt(a) * x0[k]) / std::sqrt(1.0 - a));
      x = diffusers_ddim_step(c, eps, x, div);
    }
    for (std::size_t k = 0; k < n; ++k) EXPECT_NEAR(x[k], x0[k], 1e-5);
  }
}

}  // namespace
}  // namespace wma::sampling
