// Video schedule and DDIM parameters against reference numbers computed with upstream's numpy/torch code
// (docs/upstream.md#video-schedule, #ddim-parameters, #ddim-coefficients-in-float32).
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "sampling/ddim.h"
#include "sampling/schedule.h"

namespace wma::sampling {
namespace {

const VideoSchedule& schedule() {
  static const VideoSchedule s = make_video_schedule({});
  return s;
}

TEST(VideoSchedule, MatchesReferenceValues) {
  const auto& s = schedule();
  ASSERT_EQ(s.num_timesteps(), 1000);
  EXPECT_EQ(s.alphas_cumprod[0], 0.99914998f);
  EXPECT_EQ(s.alphas_cumprod[19], 0.98101044f);
  EXPECT_EQ(s.alphas_cumprod[998], 1.9678880e-07f);
  EXPECT_EQ(s.alphas_cumprod[999], 0.0f);  // zero terminal SNR, exactly
  EXPECT_EQ(s.betas[999], 1.0f);
  EXPECT_EQ(s.alphas_cumprod_prev[0], 1.0f);
  EXPECT_EQ(s.alphas_cumprod_prev[20], s.alphas_cumprod[19]);
  EXPECT_EQ(s.sqrt_alphas_cumprod[999], 0.0f);
  EXPECT_EQ(s.sqrt_one_minus_alphas_cumprod[999], 1.0f);
}

TEST(VideoSchedule, IsMonotoneAndSelfConsistent) {
  const auto& s = schedule();
  for (int t = 1; t < 1000; ++t) {
    EXPECT_LT(s.alphas_cumprod[t], s.alphas_cumprod[t - 1]) << t;
    EXPECT_GT(s.betas[t], s.betas[t - 1]) << t;
  }
  for (int t = 0; t < 1000; ++t) {
    // The sqrt buffers are float64 sqrt rounded once, so they sit within an ulp of float32 sqrt of ᾱ.
    EXPECT_NEAR(s.sqrt_alphas_cumprod[t], std::sqrt(s.alphas_cumprod[t]), 1.2e-7) << t;
    const double sa = s.sqrt_alphas_cumprod[t], sb = s.sqrt_one_minus_alphas_cumprod[t];
    EXPECT_NEAR(sa * sa + sb * sb, 1.0, 1e-6) << t;
  }
}

TEST(VideoSchedule, WithoutZeroSnrKeepsPositiveTerminalAlpha) {
  VideoScheduleConfig cfg;
  cfg.rescale_zero_terminal_snr = false;
  const VideoSchedule s = make_video_schedule(cfg);
  EXPECT_GT(s.alphas_cumprod[999], 1e-3f);
  EXPECT_NEAR(s.betas[0], 0.00085, 1e-9);
  EXPECT_NEAR(s.betas[999], 0.012, 1e-9);
}

TEST(VideoSchedule, DynamicRescaleArray) {
  const auto& a = schedule().scale_arr;
  ASSERT_EQ(a.size(), 1400u);
  EXPECT_EQ(a[0], 1.0f);
  EXPECT_EQ(a[399], 0.7f);
  EXPECT_EQ(a[1399], 0.7f);
  EXPECT_NEAR(a[19], 1.0 - 0.3 * 19 / 399, 1e-7);
  for (int t = 1; t < 400; ++t) EXPECT_LT(a[t], a[t - 1]);
  VideoScheduleConfig cfg;
  cfg.use_dynamic_rescale = false;
  EXPECT_TRUE(make_video_schedule(cfg).scale_arr.empty());
}

TEST(VideoSchedule, CheckpointBuffersTakePrecedence) {
  VideoScheduleBuffers ckpt;
  ckpt.alphas_cumprod = std::vector<float>(1000, 0.5f);
  ckpt.sqrt_alphas_cumprod = std::vector<float>(1000, 0.25f);
  const VideoSchedule s = make_video_schedule({}, ckpt);
  EXPECT_EQ(s.alphas_cumprod[3], 0.5f);
  EXPECT_EQ(s.sqrt_alphas_cumprod[999], 0.25f);
  EXPECT_EQ(s.sqrt_one_minus_alphas_cumprod, schedule().sqrt_one_minus_alphas_cumprod);  // absent: computed
  VideoScheduleBuffers bad;
  bad.scale_arr = std::vector<float>(1000, 0.7f);
  EXPECT_THROW(make_video_schedule({}, bad), Error);
}

TEST(DdimTimesteps, UniformTrailing) {
  const auto ts50 = ddim_timesteps(TimestepSpacing::UniformTrailing, 50, 1000);
  ASSERT_EQ(ts50.size(), 50u);
  for (int k = 0; k < 50; ++k) EXPECT_EQ(ts50[k], 20 * (k + 1) - 1);
  // Sampling order, as the denoiser sees it: 999, 979, ..., 19.
  EXPECT_EQ(ts50.back(), 999);
  EXPECT_EQ(ts50[48], 979);
  EXPECT_EQ(ts50.front(), 19);
  // np.round is half-to-even, which shows at 16 steps.
  const std::vector<std::int64_t> ts16 = {61,  124, 187, 249, 311, 374, 437, 499,
                                          561, 624, 687, 749, 811, 874, 937, 999};
  EXPECT_EQ(ddim_timesteps(TimestepSpacing::UniformTrailing, 16, 1000), ts16);
  EXPECT_EQ(ddim_timesteps(TimestepSpacing::UniformTrailing, 1, 1000), std::vector<std::int64_t>{999});
  // Float arange yields 62 elements here, the last rounding to -1; upstream would silently wrap to t = 999.
  EXPECT_THROW(ddim_timesteps(TimestepSpacing::UniformTrailing, 61, 1000), Error);
}

TEST(DdimTimesteps, Uniform) {
  const auto ts = ddim_timesteps(TimestepSpacing::Uniform, 50, 1000);
  ASSERT_EQ(ts.size(), 50u);
  EXPECT_EQ(ts.front(), 1);
  EXPECT_EQ(ts.back(), 981);
  // 1000 // 16 = 62 gives 17 steps, like upstream.
  EXPECT_EQ(ddim_timesteps(TimestepSpacing::Uniform, 16, 1000).size(), 17u);
  EXPECT_THROW(ddim_timesteps(TimestepSpacing::Uniform, 3, 1000), Error);  // would reach t = 1000
  EXPECT_EQ(parse_timestep_spacing("uniform_trailing"), TimestepSpacing::UniformTrailing);
  EXPECT_THROW(parse_timestep_spacing("leading"), Error);
}

struct ReferenceRow {
  int i;
  std::int64_t t;
  float a, a_prev, sigma, var;
  double rescale;
};

// docs/upstream.md#ddim-parameters (50 steps, uniform_trailing, eta 1).
const ReferenceRow kRows[] = {
    {49, 999, 0.0f, 8.57878404e-05f, 0.999957085f, 5.96046448e-08f, 1.0},
    {48, 979, 8.57878404e-05f, 0.000375153351f, 0.878124595f, 0.228522062f, 1.0},
    {25, 519, 0.216291919f, 0.242359161f, 0.322457403f, 0.653662086f, 1.0},
    {20, 419, 0.360923827f, 0.393544048f, 0.280459464f, 0.527798414f, 1.0},
    {19, 399, 0.393544048f, 0.427059948f, 0.272292703f, 0.498796731f, 1.0214822},
    {10, 219, 0.705454648f, 0.738700092f, 0.199813828f, 0.221374348f, 1.0180018},
    {1, 39, 0.960263968f, 0.981010437f, 0.100531116f, 0.00888305809f, 1.0154918},
    {0, 19, 0.981010437f, 0.999149978f, 0.0285072532f, 3.73583753e-05f, 1.0},
};

TEST(DdimSchedule, MatchesReferenceTable) {
  const auto& s = schedule();
  const DdimSchedule d = make_ddim_schedule(s, TimestepSpacing::UniformTrailing, 50, 1.0);
  ASSERT_EQ(d.num_steps(), 50);
  for (const ReferenceRow& r : kRows) {
    SCOPED_TRACE(r.i);
    EXPECT_EQ(d.timesteps[r.i], r.t);
    EXPECT_EQ(d.alphas[r.i], r.a);
    EXPECT_EQ(d.alphas_prev[r.i], r.a_prev);
    EXPECT_EQ(d.sigmas[r.i], r.sigma);
    const DdimStepCoefficients c = ddim_step_coefficients(s, d, r.i);
    EXPECT_EQ(c.timestep, r.t);
    EXPECT_EQ(c.dir_coefficient, std::sqrt(r.var));
    EXPECT_EQ(c.sigma, r.sigma);
    EXPECT_EQ(c.sqrt_alpha_prev, std::sqrt(r.a_prev));
    EXPECT_NEAR(c.x0_rescale, r.rescale, 1e-7);
    EXPECT_EQ(c.sqrt_alpha_cumprod, s.sqrt_alphas_cumprod[r.t]);
    EXPECT_EQ(c.sqrt_one_minus_alpha_cumprod, s.sqrt_one_minus_alphas_cumprod[r.t]);
  }
}

TEST(DdimSchedule, FinalStepAndFirstStepCoefficients) {
  const auto& s = schedule();
  const DdimSchedule d = make_ddim_schedule(s, TimestepSpacing::UniformTrailing, 50, 1.0);
  // Final step: a_prev is ᾱ_0 (not 1), noise is still added, and the x0 rescale is 1.
  const DdimStepCoefficients last = ddim_step_coefficients(s, d, 0);
  EXPECT_EQ(d.alphas_prev[0], 0.99914998f);
  EXPECT_NEAR(last.sigma, 0.0285, 1e-4);
  EXPECT_EQ(last.x0_rescale, 1.0f);
  // First step (t = 999): float32 (1 − a_prev) − σ² is exactly 2^-24, so the coefficient is 2^-12.
  const DdimStepCoefficients first = ddim_step_coefficients(s, d, 49);
  EXPECT_EQ(first.dir_coefficient, std::ldexp(1.0f, -12));
  EXPECT_NEAR(first.dir_coefficient, 2.44e-4, 1e-6);
}

TEST(DdimSchedule, RescaleDiffersFromOneOnlyBetween39And399) {
  const auto& s = schedule();
  const DdimSchedule d = make_ddim_schedule(s, TimestepSpacing::UniformTrailing, 50, 1.0);
  for (int i = 0; i < 50; ++i) {
    const float r = ddim_step_coefficients(s, d, i).x0_rescale;
    if (i >= 1 && i <= 19) EXPECT_GT(r, 1.0f) << i;
    else EXPECT_EQ(r, 1.0f) << i;
  }
  EXPECT_EQ(d.scale_prev[0], d.scale[0]);
  EXPECT_EQ(d.scale[0], 0.98571426f);
}

TEST(DdimSchedule, MonotoneAndEtaScaling) {
  const auto& s = schedule();
  const DdimSchedule d1 = make_ddim_schedule(s, TimestepSpacing::UniformTrailing, 50, 1.0);
  const DdimSchedule d0 = make_ddim_schedule(s, TimestepSpacing::UniformTrailing, 50, 0.0);
  for (int i = 1; i < 50; ++i) {
    EXPECT_LT(d1.alphas[i], d1.alphas[i - 1]);
    EXPECT_LT(d1.alphas_prev[i], d1.alphas_prev[i - 1]);
    EXPECT_EQ(d1.alphas_prev[i], d1.alphas[i - 1]);
    EXPECT_GT(d1.sigmas[i], d1.sigmas[i - 1]);
  }
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(d0.sigmas[i], 0.0f);
    EXPECT_EQ(ddim_step_coefficients(s, d0, i).dir_coefficient, std::sqrt(1.0f - d0.alphas_prev[i]));
    EXPECT_EQ(d1.sqrt_one_minus_alphas[i], std::sqrt(1.0f - d1.alphas[i]));
  }
  EXPECT_THROW(ddim_step_coefficients(s, d1, 50), Error);
}

TEST(DdimSchedule, NegativeFloat32VarianceBecomesZeroNotNan) {
  // 25 trailing steps, eta 1: at t = 999 float32 (1 − a_prev) − σ² is −2^-24; upstream's sqrt gives NaN.
  const auto& s = schedule();
  const DdimSchedule d = make_ddim_schedule(s, TimestepSpacing::UniformTrailing, 25, 1.0);
  const DdimStepCoefficients c = ddim_step_coefficients(s, d, 24);
  EXPECT_LT((1.0f - d.alphas_prev[24]) - d.sigmas[24] * d.sigmas[24], 0.0f);
  EXPECT_EQ(c.dir_coefficient, 0.0f);
}

}  // namespace
}  // namespace wma::sampling
