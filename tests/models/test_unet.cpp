// WMAModel (models/wma_model.h, models/wma_unet.h): parity with upstream's WMAModel.forward on the
// policy and world-model pass fixtures (tests/fixtures/wma_{policy,world}.safetensors, written by
// tools/reference/fixtures_wma.py with deterministic weights), the per-pass cache, strict loading.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "models/deterministic_weights.h"
#include "models/wma_model.h"
#include "ops/ops.h"
#include "util/model_test_util.h"

namespace wma::models {
namespace {

const std::string kPrefix = "model.diffusion_model.";
constexpr double kTolerance = 1e-5;

io::WeightStore model_store(const WMAModelConfig& c) { return test::deterministic_store<WMAModel>(c); }

struct LoadedModel {
  io::WeightStore store;
  WMAModel model;
  explicit LoadedModel(const WMAModelConfig& c) : store(model_store(c)), model(store, c) {}
};

// Bitwise equality: the cache must reproduce the uncached computation exactly.
void expect_identical(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  EXPECT_EQ(ops::contiguous(a).to_floats(), ops::contiguous(b).to_floats()) << what;
}

void check_fixture(const std::string& name) {
  const io::WeightStore fx = test::load_fixture(name + ".safetensors");
  static const LoadedModel tiny(test::tiny_config().diffusion);
  const WMAModel& model = tiny.model;

  const test::WmaStepInputs in = test::wma_step_inputs(fx);
  const WMAPass pass = model.prepare(in.conditioning);

  // The UNet alone, for the hs_a features the heads receive.
  const UNetOutput unet = model.unet().forward(in.xc, in.t, pass.unet);
  ASSERT_EQ(unet.hs_a.size(), 9u);
  for (std::size_t i = 0; i < unet.hs_a.size(); ++i) {
    const std::string key = "output.hs_a." + std::to_string(i);
    test::expect_close(name, key, unet.hs_a[i].permute({0, 1, 4, 2, 3}), fx.load(key), kTolerance);
  }

  const WMADenoised out = model.denoise(in.x, in.x_action, in.x_state, in.t, pass);
  expect_identical(out.v, unet.v, "denoise v vs UNet forward v");
  for (const auto& [key, value] :
       {std::pair{"output.v", out.v.permute({0, 4, 1, 2, 3})}, std::pair{"output.action_eps", out.action_eps},
        std::pair{"output.state_eps", out.state_eps}}) {
    test::expect_close(name, key, value, fx.load(key), kTolerance);
  }
}

TEST(WMAModelFixture, PolicyPassMatchesUpstream) { check_fixture("wma_policy"); }

TEST(WMAModelFixture, WorldModelPassMatchesUpstream) { check_fixture("wma_world"); }

// A small model with the released architecture's structure (four levels, so nine hs_a features
// for the heads; attention at two of them), cheap enough to run many steps.
WMAModelConfig small_config() {
  WMAModelConfig c;
  c.unet.model_channels = 32;
  c.unet.channel_mult = {1, 1, 1, 1};
  c.unet.attention_resolutions = {1, 2};
  c.unet.num_head_channels = 16;
  c.unet.context_dim = 64;
  c.action_token_projector.dim = c.action_token_projector.output_dim = 64;
  c.action_token_projector.heads = 4;
  c.action_token_projector.dim_head = 16;
  c.action_token_projector.ff_mult = 1;
  c.heads.step_embed_dim = 16;
  c.heads.down_dims = {16, 16, 32, 32};
  c.heads.act_proj_dim = 8;
  c.heads.context_dims = {32, 32, 32, 32};
  c.heads.image_height = c.heads.image_width = 8;
  c.heads.obs = {.image_height = 32, .image_width = 32, .low_dim = 16, .num_kp = 4};
  return c;
}

Tensor input(const std::string& name, const Shape& shape) { return deterministic_tensor("input." + name, shape); }

// One prepare per sampling pass gives the same step outputs as recomputing everything every step.
TEST(WMAModelCache, PreparedPassEqualsRecomputingEveryStep) {
  const WMAModelConfig config = small_config();
  const LoadedModel small(config);
  const WMAModel& model = small.model;
  const std::int64_t frames = 16, size = 8;
  // Both context layouts: with action tokens (2 + 16 + 77 + 256) and without (2 + 77 + 256).
  for (const std::int64_t len : {351, 335}) {
    WMAConditioning cond;
    cond.context = input("context", {1, len, config.unet.context_dim});
    cond.c_concat = input("c_concat", {1, frames, size, size, 4});
    cond.fs = Tensor::from_ints({1}, {7});
    cond.obs_images = input("obs_images", {1, 2, 32, 32, 3});
    cond.obs_state = input("obs_state", {1, 2, 16});
    const WMAPass cached = model.prepare(cond);
    for (const std::int64_t step : {999, 1}) {
      const std::string s = std::to_string(step);
      const Tensor x = input("x" + s, {1, frames, size, size, 4});
      const Tensor action = input("action" + s, {1, 16, 16}), state = input("state" + s, {1, 16, 16});
      const Tensor t = Tensor::from_ints({1}, {step});
      const WMADenoised a = model.denoise(x, action, state, t, cached);
      const WMADenoised b = model.denoise(x, action, state, t, model.prepare(cond));
      const std::string what = "L=" + std::to_string(len) + " t=" + s;
      expect_identical(a.v, b.v, what + " v");
      expect_identical(a.action_eps, b.action_eps, what + " action eps");
      expect_identical(a.state_eps, b.state_eps, what + " state eps");
    }
  }
}

// base_model_gen_only (base_model_inference.yaml): the context arrives per frame as [text 77 |
// image 16] (the branch where to_k/to_v read all 93 tokens), heads and projector are not run
// and their eps are zeros, as upstream returns.
TEST(WMAModelBase, GenerationOnlyRunsWithoutHeads) {
  WMAModelConfig config = small_config();
  config.unet.base_model_gen_only = true;
  config.unet.n_obs_steps = 1;
  const io::WeightStore store = model_store(small_config());  // a real checkpoint still holds the heads
  const WMAModel model(store, config);
  const std::int64_t frames = 16, size = 8;
  WMAConditioning cond;
  cond.context = input("base_context", {frames, 77 + 16, config.unet.context_dim});
  cond.c_concat = input("c_concat", {1, frames, size, size, 4});
  cond.fs = Tensor::from_ints({1}, {10});
  const WMAPass pass = model.prepare(cond);
  const Tensor action = input("action", {1, 16, 16});
  const WMADenoised out =
      model.denoise(input("x", {1, frames, size, size, 4}), action, action, Tensor::from_ints({1}, {500}), pass);
  ASSERT_EQ(out.v.shape(), (Shape{1, frames, size, size, 4}));
  for (float v : out.v.to_floats()) ASSERT_TRUE(std::isfinite(v));
  EXPECT_EQ(out.action_eps.to_floats(), std::vector<float>(16 * 16, 0.0f));
  EXPECT_EQ(out.state_eps.to_floats(), std::vector<float>(16 * 16, 0.0f));
}

// Loading is strict over the whole model.diffusion_model subtree.
TEST(WMAModelLoad, ReportsMissingAndUnexpectedKeys) {
  const WMAModelConfig config = small_config();
  const io::WeightStore store = model_store(config);
  std::vector<io::TensorInfo> listing;
  for (const std::string& key : store.keys()) listing.push_back(*store.find(key));
  auto error_of = [&](const std::vector<io::TensorInfo>& keys) -> std::string {
    try {
      WMAModel(io::WeightStore(std::make_unique<DeterministicSource>(keys)), config);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error_of(listing), "");

  std::vector<io::TensorInfo> extra = listing;
  extra.push_back({kPrefix + "input_blocks.1.3.weight", DType::F32, {4}});
  EXPECT_NE(error_of(extra).find("input_blocks.1.3.weight"), std::string::npos);

  // The upstream key typo is the key we read.
  const std::string typo = kPrefix + "output_blocks.4.0.temopral_conv.conv3.3.bias";
  std::vector<io::TensorInfo> missing;
  for (const auto& info : listing)
    if (info.name != typo) missing.push_back(info);
  ASSERT_EQ(missing.size() + 1, listing.size());
  EXPECT_NE(error_of(missing).find(typo), std::string::npos);
}

}  // namespace
}  // namespace wma::models
