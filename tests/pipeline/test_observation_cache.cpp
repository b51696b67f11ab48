// The Synthesizer's observation cache (issue 15): a pass on the frames of the pass before reuses their CLIP tokens
// and VAE posterior, and conditions bit for bit as a fresh Synthesizer given the same draws; other frames do not
// hit. On the built-in demo model, so it needs no vocabulary or fixture.
#include <gtest/gtest.h>

#include "ops/ops.h"
#include "pipeline/demo.h"
#include "pipeline/noise.h"
#include "pipeline/synthesis.h"

namespace wma::pipeline {
namespace {

struct Demo {
  WorldModelConfig config = demo_config();
  io::WeightStore store = deterministic_world_model_store(config);
  WorldModel model{store, config};
  models::ClipTokenizer tokenizer = demo_tokenizer();
};

const Demo& demo() {
  static const Demo d;
  return d;
}

PassInput scene_input(const WorldModelConfig& c, bool sim_mode) {
  const DemoScene scene = make_demo_scene(c.video_height(), c.video_width(), c.projectors.agent_state_dim);
  PassInput in;
  const std::int64_t frames = c.n_obs_steps_imagen;
  std::vector<Tensor> images;
  for (std::int64_t f = 0; f < frames; ++f) images.push_back(ops::scale(scene.image, 1.0f - 0.25f * f).unsqueeze(0));
  in.obs_images = ops::concat(images, 0).unsqueeze(0);
  std::vector<float> states;
  for (std::int64_t f = 0; f < frames; ++f) states.insert(states.end(), scene.state.begin(), scene.state.end());
  in.obs_state = Tensor::from_floats({1, frames, c.projectors.agent_state_dim}, states);
  in.action = Tensor::zeros({1, c.wma.unet.temporal_length, c.projectors.agent_action_dim});
  in.prompt = sim_mode ? "" : scene.instruction;
  in.sim_mode = sim_mode;
  return in;
}

void expect_same(const models::WMAConditioning& a, const models::WMAConditioning& b) {
  EXPECT_EQ(a.context.to_floats(), b.context.to_floats());
  EXPECT_EQ(a.c_concat.to_floats(), b.c_concat.to_floats());
  EXPECT_EQ(a.obs_images.to_floats(), b.obs_images.to_floats());
  EXPECT_EQ(a.obs_state.to_floats(), b.obs_state.to_floats());
}

TEST(ObservationCache, SecondPassOnTheSameFramesReusesTheEncoders) {
  PassOptions options;
  options.ddim_steps = 2;
  options.video_length = demo().config.wma.unet.temporal_length;
  Synthesizer cached(demo().model, demo().tokenizer, options);
  const PassInput policy = scene_input(demo().config, false), world = scene_input(demo().config, true);
  EXPECT_FALSE(cached.reuses_observation(policy.obs_images));
  PhiloxNoise first(1);
  cached.condition(policy, first);
  ASSERT_TRUE(cached.reuses_observation(world.obs_images)) << "equal frames in a new tensor";

  // The world-model pass's conditioning, from the cache and from scratch, with the same draws.
  PhiloxNoise a(2), b(2);
  const models::WMAConditioning reused = cached.condition(world, a);
  Synthesizer fresh(demo().model, demo().tokenizer, options);
  expect_same(reused, fresh.condition(world, b));
  EXPECT_EQ(a.randn_cpu({4}).to_floats(), b.randn_cpu({4}).to_floats()) << "the same draws were consumed";

  // One changed pixel is another observation.
  PassInput moved = world;
  moved.obs_images = ops::contiguous(world.obs_images);
  moved.obs_images = Tensor::from_floats(moved.obs_images.shape(), [&] {
    std::vector<float> v = moved.obs_images.to_floats();
    v[v.size() / 2] += 0.5f;
    return v;
  }());
  EXPECT_FALSE(cached.reuses_observation(moved.obs_images));
  PhiloxNoise c(3), d(3);
  const models::WMAConditioning recomputed = cached.condition(moved, c);
  Synthesizer other(demo().model, demo().tokenizer, options);
  expect_same(recomputed, other.condition(moved, d));
  EXPECT_NE(recomputed.c_concat.to_floats(), reused.c_concat.to_floats());
}

}  // namespace
}  // namespace wma::pipeline
