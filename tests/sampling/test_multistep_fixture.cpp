// DPM-Solver++(2M) and UniPC-bh2 against diffusers' own schedulers, on the CPU (multistep_fixture_check.h); and
// the claim of multistep.h that a first-order step is upstream's DDIM eta 0 step, dynamic rescale included.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <vector>

#include "sampling/ddim.h"
#include "sampling/dpm_solver.h"
#include "sampling/schedule.h"
#include "sampling/unipc.h"
#include "util/multistep_fixture_check.h"

namespace wma::sampling {
namespace {

class MultistepFixture : public ::testing::TestWithParam<test::MultistepCase> {};

TEST_P(MultistepFixture, EveryStepMatchesDiffusers) {
  test::check_multistep_against_diffusers(GetParam(), Device::CPU);
}

INSTANTIATE_TEST_SUITE_P(Diffusers, MultistepFixture, test::kMultistepCases, test::multistep_case_name);

// On upstream's video schedule (scale_arr included) the first-order multistep update between two of the pass's
// levels is the DDIM eta 0 step between the same timesteps; the coefficients differ only in how they are rounded.
TEST(Multistep, FirstOrderStepIsDdimEtaZero) {
  const VideoSchedule video = make_video_schedule({});
  const int n = 10;
  const DdimSchedule ddim = make_ddim_schedule(video, TimestepSpacing::UniformTrailing, n, 0.0);
  std::vector<std::int64_t> timesteps(ddim.timesteps.rbegin(), ddim.timesteps.rend());
  const std::vector<NoiseLevel> levels = noise_levels(video.alphas_cumprod, video.scale_arr, timesteps);
  const Shape shape = {1, 2, 3, 4, 5};
  std::vector<float> xs(120), vs(120);
  for (std::size_t i = 0; i < xs.size(); ++i) {
    xs[i] = std::sin(0.37f * static_cast<float>(i) + 0.1f);
    vs[i] = std::cos(0.23f * static_cast<float>(i));
  }
  const Tensor x = Tensor::from_floats(shape, xs), v = Tensor::from_floats(shape, vs);
  const Tensor zero = Tensor::zeros(shape);
  // Step 0 leaves ᾱ = 0 (taken as 2^-24 here) and the last step ends at the clean level where DDIM stops at t = 0's
  // ᾱ, so the steps in between are the ones where both describe the same transition.
  for (int k = 1; k + 1 < n; ++k) {
    const DdimStepCoefficients d = ddim_step_coefficients(video, ddim, n - 1 - k);
    ASSERT_EQ(d.timestep, timesteps[k]);
    const std::vector<float> want = ddim_v_step(d, x, v, zero).to_floats();
    const MultistepUpdate u = dpmpp_2m_update(levels, k, 1);
    const Tensor data = video_data_prediction(levels[k], x, v);
    const std::array<float, 3> c{u.sample, u.data, 0.0f};
    const std::array<const Tensor*, 3> terms{&x, &data, &data};
    const std::vector<float> got = linear_combination(c, terms).to_floats();
    for (std::size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5) << "step " << k << " " << i;
  }
}

}  // namespace
}  // namespace wma::sampling
