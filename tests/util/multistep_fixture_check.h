// DPM-Solver++(2M) and UniPC-bh2 against diffusers' own schedulers stepping the same recorded model outputs
// (tests/fixtures/multistep.safetensors, tools/reference/make_multistep_fixtures.py), every step's sample, with
// the chains on a given device: tests/sampling runs it on the CPU, tests/cuda_pipeline on the GPU.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <string>

#include "io/safetensors.h"
#include "ops/ops.h"
#include "sampling/ddim.h"
#include "sampling/dpm_solver.h"
#include "sampling/schedule.h"
#include "sampling/unipc.h"

namespace wma::sampling::test {

inline const io::SafetensorsSource& multistep_fixture() {
  static const io::SafetensorsSource src = [] {
    const char* dir = std::getenv("WMA_SOURCE_DIR");
    return io::SafetensorsSource(std::string(dir ? dir : ".") + "/tests/fixtures/multistep.safetensors");
  }();
  return src;
}

// Element k of a fixture tensor [N, ...] as a tensor of the element's shape, on `device`.
inline Tensor fixture_element(const Tensor& all, std::int64_t k, Device device) {
  const Shape shape(all.shape().begin() + 1, all.shape().end());
  return ops::to_device(Tensor::from_floats(shape, all.slice(0, k, k + 1).to_floats()), device);
}

// diffusers computes its α, σ and λ in float32 (sigmas = sqrt((1 − ᾱ)/ᾱ) rounded, α = 1/sqrt(σ² + 1),
// λ = log α − log σ), we in float64 from the same float32 ᾱ, so the step coefficients differ by float32 rounding,
// most in h = λ' − λ, a difference of two rounded logs of up to |λ| ≈ 10 near the zero-SNR end. The worst case
// over the fixture is 1.4e-6 of the sample's scale (≈ 12 float32 ulps at 1, heads, 16 steps; printed below); the
// bound is 2^-18 (32 ulps at 1). A solver error is orders above it: skipping UniPC's corrector misses by 8e-2.
constexpr double kMultistepTolerance = 0x1p-18;

struct MultistepCase {
  const char* solver;
  int steps;
};

inline void PrintTo(const MultistepCase& c, std::ostream* os) { *os << c.solver << ", " << c.steps << " steps"; }

inline std::string multistep_case_name(const ::testing::TestParamInfo<MultistepCase>& info) {
  return std::string(info.param.solver) + "_" + std::to_string(info.param.steps);
}

inline const auto kMultistepCases = ::testing::Values(MultistepCase{"dpmpp_2m", 6}, MultistepCase{"dpmpp_2m", 16},
                                                      MultistepCase{"unipc", 6}, MultistepCase{"unipc", 16});

// Steps the case's solver over the recorded outputs on `device` and checks every step's three chains.
inline void check_multistep_against_diffusers(const MultistepCase& c, Device device) {
  const io::SafetensorsSource& fixture = multistep_fixture();
  const auto element = [device](const Tensor& all, std::int64_t k) { return fixture_element(all, k, device); };
  const std::string video = std::string(c.solver) + ".video." + std::to_string(c.steps) + ".";
  const std::string heads = std::string(c.solver) + ".heads." + std::to_string(c.steps) + ".";
  const std::vector<std::int64_t> timesteps = fixture.load(video + "timesteps").to_ints();
  ASSERT_EQ(fixture.load(heads + "timesteps").to_ints(), timesteps);
  // The timesteps of diffusers' "trailing" are upstream's uniform_trailing DDIM timesteps.
  std::vector<std::int64_t> ours = ddim_timesteps(TimestepSpacing::UniformTrailing, c.steps, 1000);
  std::reverse(ours.begin(), ours.end());
  ASSERT_EQ(ours, timesteps);

  MultistepSchedule schedule;
  schedule.timesteps = timesteps;
  schedule.video = noise_levels(fixture.load("video.alphas_cumprod").to_floats(), {}, timesteps);
  schedule.heads = noise_levels(fixture.load("heads.alphas_cumprod").to_floats(), {}, timesteps);
  schedule.head_clip = true;
  schedule.head_clip_range = 1.0f;

  const Tensor video_outputs = fixture.load(video + "model_outputs");
  const Tensor head_outputs = fixture.load(heads + "model_outputs");
  const Tensor video_samples = fixture.load(video + "samples");
  const Tensor head_samples = fixture.load(heads + "samples");
  int calls = 0;
  const Denoise denoise = [&](const JointSample&, int k) {
    EXPECT_EQ(k, calls++);
    const Tensor eps = element(head_outputs, k);
    return JointPrediction{element(video_outputs, k), eps, eps};
  };
  double worst = 0;
  const auto check = [&](const char* chain, const Tensor& got, const Tensor& all, int k) {
    const std::vector<float> want = fixture_element(all, k + 1, Device::CPU).to_floats();
    const std::vector<float> have = ops::to_device(got, Device::CPU).to_floats();
    ASSERT_EQ(have.size(), want.size());
    double scale = 0;
    for (const float w : want) scale = std::max(scale, std::fabs(static_cast<double>(w)));
    for (std::size_t i = 0; i < want.size(); ++i) {
      const double err = std::fabs(static_cast<double>(have[i]) - want[i]) / std::max(scale, 1.0);
      worst = std::max(worst, err);
      ASSERT_LE(err, kMultistepTolerance)
          << chain << " step " << k << " element " << i << ": " << have[i] << " vs " << want[i];
    }
  };
  int observed = 0;
  const StepObserver observe = [&](int k, const JointSample& x) {
    EXPECT_EQ(k, observed++);
    check("video", x.video, video_samples, k);
    check("actions", x.actions, head_samples, k);
    check("states", x.states, head_samples, k);
  };
  const JointSample x_T{element(video_samples, 0), element(head_samples, 0), element(head_samples, 0)};
  if (std::string(c.solver) == "dpmpp_2m") dpmpp_2m_sample(schedule, x_T, denoise, observe);
  else unipc_sample(schedule, x_T, denoise, observe);
  EXPECT_EQ(calls, c.steps);
  EXPECT_EQ(observed, c.steps);
  std::printf("%s %d steps on %s: worst difference %.3g of the sample's scale\n", c.solver, c.steps,
              device == Device::CPU ? "cpu" : "cuda", worst);
}

}  // namespace wma::sampling::test
