// Schedules, DDIM parameters and diffusers DDIMScheduler steps against tests/fixtures/schedules.safetensors,
// recorded by tools/reference from upstream's own DDPM/DDIMSampler and diffusers v0.30.2 (CPU torch).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "io/safetensors.h"
#include "sampling/ddim.h"
#include "sampling/diffusers_ddim.h"
#include "sampling/schedule.h"

namespace wma::sampling {
namespace {

const io::SafetensorsSource& fixture() {
  static const io::SafetensorsSource src = [] {
    const char* dir = std::getenv("WMA_SOURCE_DIR");
    return io::SafetensorsSource(std::string(dir ? dir : ".") + "/tests/fixtures/schedules.safetensors");
  }();
  return src;
}

std::vector<float> floats(const std::string& name) { return fixture().load(name).to_floats(); }
std::vector<std::int64_t> ints(const std::string& name) { return fixture().load(name).to_ints(); }

TEST(ScheduleFixture, VideoBuffersAreBitExact) {
  const VideoSchedule s = make_video_schedule({});
  EXPECT_EQ(s.betas, floats("wma.betas"));
  EXPECT_EQ(s.alphas_cumprod, floats("wma.alphas_cumprod"));
  EXPECT_EQ(s.alphas_cumprod_prev, floats("wma.alphas_cumprod_prev"));
  EXPECT_EQ(s.sqrt_alphas_cumprod, floats("wma.sqrt_alphas_cumprod"));
  EXPECT_EQ(s.sqrt_one_minus_alphas_cumprod, floats("wma.sqrt_one_minus_alphas_cumprod"));
  EXPECT_EQ(s.scale_arr, floats("wma.scale_arr"));
}

TEST(ScheduleFixture, DdimParametersAreBitExact) {
  const VideoSchedule s = make_video_schedule({});
  for (const char* spacing : {"uniform_trailing", "uniform"}) {
    for (int steps : {50, 16, 20, 10}) {
      const std::string p = std::string("ddim.") + spacing + "." + std::to_string(steps) + ".";
      SCOPED_TRACE(p);
      const DdimSchedule d1 = make_ddim_schedule(s, parse_timestep_spacing(spacing), steps, 1.0);
      const DdimSchedule d0 = make_ddim_schedule(s, parse_timestep_spacing(spacing), steps, 0.0);
      EXPECT_EQ(d1.timesteps, ints(p + "timesteps"));
      EXPECT_EQ(d1.alphas, floats(p + "alphas"));
      EXPECT_EQ(d1.alphas_prev, floats(p + "alphas_prev"));
      EXPECT_EQ(d1.sqrt_one_minus_alphas, floats(p + "sqrt_one_minus_alphas"));
      EXPECT_EQ(d1.sigmas, floats(p + "sigmas_eta1"));
      EXPECT_EQ(d0.sigmas, floats(p + "sigmas_eta0"));
      EXPECT_EQ(d1.scale, floats(p + "scale_arr"));
      EXPECT_EQ(d1.scale_prev, floats(p + "scale_arr_prev"));
    }
  }
}

// The recording machine's square roots (DiffusersDdimConfig::host_sqrt): a few differ from std::sqrt by an ulp.
DiffusersDdimConfig recorded_config() {
  const std::vector<float> args = floats("dp.host_sqrt.arg"), values = floats("dp.host_sqrt.value");
  EXPECT_EQ(args.size(), values.size());
  DiffusersDdimConfig config;
  int off_by_an_ulp = 0;
  for (std::size_t i = 0; i < std::min(args.size(), values.size()); ++i) {
    const float exact = std::sqrt(args[i]);
    EXPECT_LE(std::fabs(values[i] - exact), std::nextafter(exact, INFINITY) - exact) << "sqrt(" << args[i] << ")";
    off_by_an_ulp += values[i] != exact;
    config.host_sqrt[std::bit_cast<std::uint32_t>(args[i])] = values[i];
  }
  std::printf("recorded host sqrt: %d of %zu values off by an ulp\n", off_by_an_ulp, args.size());
  return config;
}

TEST(ScheduleFixture, DiffusersSchedulerStepsMatch) {
  const DiffusersDdimConfig config = recorded_config();
  const DiffusersDdimScheduler base = make_diffusers_ddim_scheduler(config, 50);
  EXPECT_EQ(base.betas, floats("dp.betas"));
  EXPECT_EQ(base.alphas_cumprod, floats("dp.alphas_cumprod"));
  for (int steps : {50, 16}) {
    const std::string p = "dp." + std::to_string(steps) + ".";
    SCOPED_TRACE(p);
    const DiffusersDdimScheduler sch = make_diffusers_ddim_scheduler(config, steps);
    const auto ts = ints(p + "timesteps");
    const auto eps_all = floats(p + "eps");
    const auto prev_all = floats(p + "prev_sample");
    EXPECT_EQ(ts, [&] {
      auto v = ddim_timesteps(TimestepSpacing::UniformTrailing, steps, 1000);
      return std::vector<std::int64_t>(v.rbegin(), v.rend());
    }());
    const auto sample_in = floats(p + "sample_in");
    const std::size_t n = sample_in.size();
    ASSERT_EQ(eps_all.size(), ts.size() * n);
    for (std::size_t i = 0; i < ts.size(); ++i) {
      // Each step starts from the fixture's own previous sample, so a last-bit difference cannot compound.
      const std::span<const float> x =
          i == 0 ? std::span<const float>(sample_in) : std::span<const float>(prev_all.data() + (i - 1) * n, n);
      const std::span<const float> eps(eps_all.data() + i * n, n);
      const auto c = diffusers_ddim_step_coefficients(sch, ts[i]);
      // The fixture ran on CPU torch, which divides by the 0-dim sqrt(ᾱ_t) tensor.
      const std::vector<float> out = diffusers_ddim_step(c, eps, x, ScalarDivision::Divide);
      for (std::size_t k = 0; k < n; ++k) ASSERT_EQ(out[k], prev_all[i * n + k]) << "step " << i << " t " << ts[i];
    }
  }
}

}  // namespace
}  // namespace wma::sampling
