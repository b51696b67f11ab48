// Parity of action_unet / state_unet (models/conditional_unet1d.h, models/obs_encoder.h) with
// upstream's ConditionalUnet1D, fed with the 9 hs_a features, observations and timesteps that
// WMAModel handed to the heads in tests/fixtures/wma_{policy,world}.safetensors (tiny config,
// deterministic weights).
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "models/conditional_unet1d.h"
#include "ops/ops.h"
#include "util/model_test_util.h"

namespace wma::models {
namespace {

constexpr double kTolerance = 1e-5;

const std::string kAction = "model.diffusion_model.action_unet.";
const std::string kState = "model.diffusion_model.state_unet.";

void check_fixture(const char* name) {
  const io::WeightStore fx = test::load_fixture(name);
  const ConditionalUnet1DConfig& config = test::tiny_config().diffusion.heads;

  // Upstream layouts -> channels-last: images [B, 3, O, H, W] -> [B, O, H, W, 3]; hs_a [B, T, C, h, w] -> [B, T, h, w,
  // C].
  const Tensor images = test::channels_last(fx.load("input.obs_images"));
  const Tensor state = fx.load("input.obs_state");
  std::vector<Tensor> hs_a;
  for (int i = 0; i < 9; ++i)
    hs_a.push_back(ops::contiguous(fx.load("output.hs_a." + std::to_string(i)).permute({0, 1, 3, 4, 2})));
  const Tensor t = fx.load("input.timesteps");

  for (const auto& [prefix, sample, expected] : {std::tuple{kAction, "input.x_action", "output.action_eps"},
                                                 std::tuple{kState, "input.x_state", "output.state_eps"}}) {
    const io::WeightStore store = test::deterministic_store<ConditionalUnet1D>(config, prefix);
    const ConditionalUnet1D head(store, config, {}, prefix);
    const Tensor global_cond = head.encode_observation(images, state);
    test::expect_close("heads", std::string(name) + " " + prefix, head(fx.load(sample), t, hs_a, global_cond),
                       fx.load(expected), kTolerance);
  }
}

TEST(HeadsFixture, PolicyPassMatchesUpstream) { check_fixture("wma_policy.safetensors"); }
TEST(HeadsFixture, WorldPassMatchesUpstream) { check_fixture("wma_world.safetensors"); }

TEST(HeadsLoad, UnusedAndSharedKeysFollowUpstreamStateDict) {
  const ConditionalUnet1DConfig& config = test::tiny_config().diffusion.heads;
  const io::WeightStore store = test::deterministic_store<ConditionalUnet1D>(config, kAction);
  std::vector<io::TensorInfo> listing;
  for (const std::string& key : store.keys()) listing.push_back(*store.find(key));
  auto load = [&](const std::vector<io::TensorInfo>& keys) {
    ConditionalUnet1D(io::WeightStore(std::make_unique<DeterministicSource>(keys)), config, {}, kAction);
  };
  auto error_of = [&](const std::vector<io::TensorInfo>& keys) -> std::string {
    try {
      load(keys);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };

  // Upstream's unused parameters load and are ignored.
  std::vector<io::TensorInfo> with_unused = listing;
  with_unused.push_back({kAction + "proj_in_horizon.0.weight", DType::F32, {config.act_proj_dim, config.horizon}});
  with_unused.push_back({kAction + "proj_out_horizon.1.bias", DType::F32, {config.horizon}});
  with_unused.push_back({kAction + "obs_encoder._dummy_variable", DType::F32, {0}});
  EXPECT_NO_THROW(load(with_unused));

  // The repeated spatial-softmax entries must be present.
  std::vector<io::TensorInfo> no_dup;
  const std::string dup = kAction + "spatial_softmax_blocks.7.nets.bias";
  for (const auto& info : listing)
    if (info.name != dup) no_dup.push_back(info);
  EXPECT_NE(error_of(no_dup).find(dup), std::string::npos);

  // Buffers are computed, and a checkpoint's copy must agree (the formula's values do not).
  std::vector<io::TensorInfo> bad_buffer = listing;
  bad_buffer.push_back({kAction + "obs_encoder.spatial_softmax.pos_x", DType::F32, {1, 4}});
  EXPECT_NE(error_of(bad_buffer).find("pos_x"), std::string::npos);

  // Anything else is unexpected.
  std::vector<io::TensorInfo> extra = listing;
  extra.push_back({kAction + "mid_modules.2.weight", DType::F32, {3}});
  EXPECT_NE(error_of(extra).find("mid_modules.2.weight"), std::string::npos);
}

}  // namespace
}  // namespace wma::models
