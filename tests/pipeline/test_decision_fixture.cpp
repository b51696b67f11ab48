// One policy-server request (pipeline/decision.h) against upstream's real_eval_server.py with recorded noise
// (tests/fixtures/server_decision_n4.safetensors): the prepared observation (integer resize, normalised and
// padded states), the final latent of the [state | text | image] pass, and the answered actions.
#include <gtest/gtest.h>

#include <cstdio>

#include "io/weight_store.h"
#include "pipeline/decision.h"
#include "pipeline_test_util.h"

namespace wma::pipeline {
namespace {

constexpr double kTolerance = 1e-4;  // as the sampling-pass fixtures (tests/pipeline/test_synthesis_fixture.cpp)

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<float> x = ops::contiguous(a).to_floats(), y = ops::contiguous(b).to_floats();
  EXPECT_EQ(x.size(), y.size());
  double m = 0;
  for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) m = std::max(m, std::fabs(double(x[i]) - double(y[i])));
  return m;
}

TEST(DecisionFixture, ServerRequestMatchesUpstream) {
  const std::filesystem::path path = test::source_dir() / "tests/fixtures/server_decision_n4.safetensors";
  ASSERT_TRUE(std::filesystem::exists(path)) << "missing fixture " << path;
  WMA_REQUIRE_BPE();
  const test::TinyModel& tiny = test::tiny_model();
  const io::WeightStore fx = io::WeightStore::open(path.string());

  DecisionSettings settings;
  settings.pass.ddim_steps = 4;
  settings.pass.ddim_eta = 1.0;
  settings.pass.timestep_spacing = sampling::TimestepSpacing::UniformTrailing;
  settings.fs = 15;  // 30 / frame_stride 2
  auto noise = std::make_unique<RecordedNoise>(path.string());
  noise->append_pass(fx);
  const RecordedNoise& draws = *noise;
  DecisionPolicy policy(tiny.model, tiny.tokenizer, io::NormalizationStats::read(path.string()), settings,
                        std::move(noise));
  EXPECT_EQ(policy.shapes().state_dim, 7);
  EXPECT_EQ(policy.shapes().action_dim, 7);

  DecisionRequest request;
  request.instruction = "Pack black camera into box.";  // the fixture's metadata `prompt`
  const Tensor pixels = fx.load("input.images");        // int64, as torch.tensor makes them from the JSON
  std::vector<float> values;
  for (const std::int64_t v : pixels.to_ints()) values.push_back(static_cast<float>(v));
  request.images = Tensor::from_floats(pixels.shape(), values);
  request.states = fx.load("input.states");
  const PassInput in = policy.prepare(request);
  // Same float32 formulas on integer pixels and the same state normalisation: equal, not close.
  EXPECT_EQ(max_abs_diff(in.obs_images.permute({0, 1, 4, 2, 3}), fx.load("prepared.observation.images.top")), 0.0);
  EXPECT_EQ(max_abs_diff(in.obs_state, fx.load("prepared.observation.state")), 0.0);

  Profiler profiler;
  const DecisionResult result = policy.run(in, "unused", &profiler);
  EXPECT_EQ(draws.remaining_cpu(), 0u);
  EXPECT_EQ(draws.remaining_cuda(), 0u);
  EXPECT_EQ(profiler.total("synthesis/decode_first_stage"), 0.0) << "no --savedir: the video is not decoded";
  ASSERT_EQ(result.rows, 16);
  ASSERT_EQ(result.action_dim, 7);
  const double err = test::relative_error(Tensor::from_floats({16, 7}, result.actions), fx.load("output.action"));
  std::printf("[server_decision_n4] output.action: max rel err %.3g\n", err);
  EXPECT_LE(err, kTolerance);
}

}  // namespace
}  // namespace wma::pipeline
