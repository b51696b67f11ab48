// The interaction loop (pipeline/interaction.h) end to end against upstream's world_model_interaction.py loop
// body with recorded noise: two iterations of (policy pass, world pass) at 4 DDIM steps on the tiny model
// (tests/fixtures/loop_n4.safetensors). Every call's latent, actions and states, the queues after each
// iteration (fed-back decoded frames and predicted states, the zeroed action queue) and the last world video.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "io/weight_store.h"
#include "pipeline/interaction.h"
#include "pipeline_test_util.h"

namespace wma::pipeline {
namespace {

constexpr double kTolerance = 1e-4;

TEST(LoopFixture, TwoIterationsMatchUpstream) {
  const std::filesystem::path path = test::source_dir() / "tests/fixtures/loop_n4.safetensors";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "fixture " << path << " not generated yet";
  WMA_REQUIRE_BPE();
  const test::TinyModel& tiny = test::tiny_model();
  const io::WeightStore fx = io::WeightStore::open(path.string());

  // The fixture's metadata: iterations 2, ddim_steps 4, ori_action_dim = ori_state_dim = 14, its prompt.
  constexpr int kIterations = 2;
  RecordedNoise noise(path.string());
  for (int itr = 0; itr < kIterations; ++itr)
    for (const char* pass : {"policy", "world"}) noise.append_pass(fx, "iter" + std::to_string(itr) + "." + pass + ".");

  InteractionOptions options;
  options.pass.ddim_steps = 4;
  options.pass.ddim_eta = 1.0;
  options.pass.timestep_spacing = sampling::TimestepSpacing::UniformTrailing;
  options.n_iter = kIterations;
  options.exe_steps = 16;
  options.model_fs = fx.load("input.fs").to_ints()[0];
  options.progress = false;
  Synthesizer synth(tiny.model, tiny.tokenizer, options.pass);

  EpisodeStart start;
  start.image = ops::contiguous(fx.load("input.image").permute({0, 2, 3, 1})).select(0, 0);  // [H, W, 3]
  start.state = fx.load("input.state").to_floats();
  start.instruction = "Pack black camera into box.";
  start.state_dim = 14;
  start.action_dim = 14;

  std::vector<IterationResult> results;
  run_interaction(synth, start, options, noise, nullptr, [&](const IterationResult& r) { results.push_back(r); });
  ASSERT_EQ(results.size(), static_cast<std::size_t>(kIterations));
  EXPECT_EQ(noise.remaining_cpu(), 0u);
  EXPECT_EQ(noise.remaining_cuda(), 0u);

  const auto channels_first = [](const Tensor& t) { return t.permute({0, 4, 1, 2, 3}); };
  double worst = 0.0;
  // The loop zeroes the padding dims of the policy's actions and the world's states in place (upstream does,
  // docs/upstream.md#padding-zeroed-in-place, after the fixture recorded them), so those are compared with the
  // fixture's padding zeroed too.
  const auto check = [&](const std::string& key, const Tensor& value, std::int64_t keep = -1) {
    Tensor expected = fx.load(key);
    if (keep >= 0) {
      std::vector<float> v = expected.to_floats();
      const std::int64_t d = expected.size(-1);
      for (std::size_t i = 0; i < v.size(); ++i)
        if (static_cast<std::int64_t>(i) % d >= keep) v[i] = 0.0f;
      expected = Tensor::from_floats(expected.shape(), v);
    }
    const double err = test::relative_error(value, expected);
    worst = std::max(worst, err);
    std::printf("[parity] loop_n4 %s %s: max rel err %.3g\n", key.c_str(), shape_str(value.shape()).c_str(), err);
    EXPECT_LE(err, kTolerance) << key;
  };
  for (const IterationResult& r : results) {
    const std::string it = "iter" + std::to_string(r.index) + ".";
    check(it + "policy.output.latent", channels_first(r.policy.latent));
    check(it + "policy.output.actions", r.policy.actions, start.action_dim);
    check(it + "policy.output.states", r.policy.states);
    check(it + "world.output.latent", channels_first(r.world.latent));
    check(it + "world.output.actions", r.world.actions);
    check(it + "world.output.states", r.world.states, start.state_dim);
    check(it + "queue.observation.images.top", channels_first(r.queue_images));
    check(it + "queue.observation.state", r.queue_states);
    check(it + "queue.action", r.queue_actions);
  }
  check("iter1.world.output.video", channels_first(results.back().world.video));
  std::printf("[parity] loop_n4 worst max rel err %.3g (tolerance %.0e)\n", worst, kTolerance);
}

}  // namespace
}  // namespace wma::pipeline
