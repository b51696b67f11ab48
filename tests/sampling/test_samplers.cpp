// The sampler interface (sampling/sampler.h): --sampler names, and --ddim_steps N meaning N model evaluations
// for every sampler, each at the chains' current values and in evaluation order.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "ops/ops.h"
#include "sampling/ddim_sampler.h"
#include "sampling/dpm_solver.h"
#include "sampling/unipc.h"

namespace wma::sampling {
namespace {

TEST(Sampler, NamesRoundTripAndAnUnknownOneIsAClearError) {
  for (const SamplerKind kind : {SamplerKind::Ddim, SamplerKind::DpmSolverPP2M, SamplerKind::UniPC})
    EXPECT_EQ(parse_sampler(sampler_name(kind)), kind);
  EXPECT_EQ(parse_sampler("dpmpp_2m"), SamplerKind::DpmSolverPP2M);
  for (const char* bad : {"euler", "DDIM", "", "dpmpp"}) {
    try {
      parse_sampler(bad);
      ADD_FAILURE() << "'" << bad << "' accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("unknown sampler '") + bad +
                                           "' (expected ddim, dpmpp_2m or unipc)"),
                std::string::npos)
          << e.what();
    }
  }
}

Tensor ramp(const Shape& shape, float offset) {
  std::int64_t n = 1;
  for (const std::int64_t d : shape) n *= d;
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = offset + 0.01f * static_cast<float>(i % 97) - 0.4f;
  return Tensor::from_floats(shape, v);
}

// A denoiser that counts its calls, checks that call k is the k-th and that it sees the chains as the previous
// step left them, and answers with outputs that depend on the sample (so the multistep history matters).
struct CountingDenoiser {
  int calls = 0;
  std::vector<float> last_video;  // what the observer saw after the previous step
  Denoise callback() {
    return [this](const JointSample& x, int k) {
      EXPECT_EQ(k, calls) << "evaluations out of order";
      if (k > 0) {
        EXPECT_EQ(x.video.to_floats(), last_video) << "call " << k << " does not see step " << k - 1;
      }
      ++calls;
      return JointPrediction{ops::scale(x.video, 0.5f), ops::scale(x.actions, 0.25f), ops::scale(x.states, 0.25f)};
    };
  }
  StepObserver observer() {
    return [this](int, const JointSample& x) { last_video = x.video.to_floats(); };
  }
};

TEST(Sampler, DdimStepsMeanModelEvaluationsForEverySampler) {
  const VideoSchedule video = make_video_schedule({});
  const Shape latent = {1, 2, 2, 3, 4}, heads = {1, 2, 3};
  for (const int n : {1, 2, 5, 8, 16, 25}) {
    const DdimSchedule ddim = make_ddim_schedule(video, TimestepSpacing::UniformTrailing, n, 0.0);
    const DiffusersDdimScheduler head = make_diffusers_ddim_scheduler({}, n);
    const MultistepSchedule multistep =
        make_multistep_schedule(video, head, {ddim.timesteps.rbegin(), ddim.timesteps.rend()});
    ASSERT_EQ(multistep.num_steps(), n);
    const JointSample x_T{ramp(latent, 0.0f), ramp(heads, 0.1f), ramp(heads, -0.1f)};
    const std::vector<Tensor> noise(static_cast<std::size_t>(n), Tensor::zeros(latent));
    for (const SamplerKind kind : {SamplerKind::Ddim, SamplerKind::DpmSolverPP2M, SamplerKind::UniPC}) {
      SCOPED_TRACE(std::string(sampler_name(kind)) + " " + std::to_string(n) + " steps");
      CountingDenoiser d;
      int steps = 0;
      const StepObserver seen = d.observer();
      const StepObserver observe = [&](int k, const JointSample& x) {
        EXPECT_EQ(k, steps++);
        seen(k, x);
      };
      JointSample end;
      if (kind == SamplerKind::Ddim)
        end = ddim_sample(video, ddim, head, x_T, d.callback(), noise, ScalarDivision::Divide, observe);
      else if (kind == SamplerKind::DpmSolverPP2M) end = dpmpp_2m_sample(multistep, x_T, d.callback(), observe);
      else end = unipc_sample(multistep, x_T, d.callback(), observe);
      EXPECT_EQ(d.calls, n);
      EXPECT_EQ(steps, n);
      EXPECT_EQ(end.video.shape(), latent);
      EXPECT_EQ(end.actions.shape(), heads);
    }
  }
}

}  // namespace
}  // namespace wma::sampling
