// Parity of action_unet / state_unet (models/conditional_unet1d.h, models/obs_encoder.h) with
// upstream's ConditionalUnet1D, fed with the 9 hs_a features, observations and timesteps that
// WMAModel handed to the heads in tests/fixtures/wma_{policy,world}.safetensors (tiny config,
// deterministic weights).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "io/json.h"
#include "io/weight_store.h"
#include "io/yaml.h"
#include "models/conditional_unet1d.h"
#include "models/deterministic_source.h"
#include "ops/ops.h"

namespace wma::models {
namespace {

constexpr double kTolerance = 1e-5;

std::filesystem::path source_dir() {
  const char* dir = std::getenv("WMA_SOURCE_DIR");
  return dir ? dir : ".";
}

// The tiny yaml's head config, with the obs shapes from its shape_meta json.
ConditionalUnet1DConfig tiny_config() {
  const io::YamlNode yaml = io::load_yaml((source_dir() / "tests/fixtures/configs/tiny.yaml").string());
  const io::YamlNode& params = yaml.at_path("model.params");
  const std::string meta_path =
      params.at_path("wma_config.params.unet_head_config.params.obs_encoder_config.params.shape_meta_path").as_string();
  std::ifstream f(source_dir() / meta_path);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const io::json::Value meta = io::json::parse(text);
  const io::json::Array& image = meta.at("obs").at("image").at("shape").as_array();
  const io::json::Array& pos = meta.at("obs").at("agent_pos").at("shape").as_array();
  return ConditionalUnet1DConfig::from_yaml(params, image[1].as_int(), image[2].as_int(), pos[0].as_int());
}

double relative_error(const Tensor& actual, const Tensor& expected) {
  EXPECT_EQ(actual.shape(), expected.shape());
  if (actual.shape() != expected.shape()) return INFINITY;
  const std::vector<float> a = ops::contiguous(actual).to_floats(), b = ops::contiguous(expected).to_floats();
  double diff = 0.0, ref = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    ref = std::max(ref, std::fabs(static_cast<double>(b[i])));
  }
  return diff / std::max(ref, 1e-30);
}

// Deterministic weights for exactly the keys the head reads. The recording pass runs against
// an empty store, where the strict load reports every key missing; only the listing matters.
io::WeightStore deterministic_head_store(const ConditionalUnet1DConfig& config, const std::string& prefix) {
  return deterministic_store_for([&](const io::WeightStore& s) {
    try {
      ConditionalUnet1D(s, config, {}, prefix);
    } catch (const Error&) {
    }
  });
}

const std::string kAction = "model.diffusion_model.action_unet.";
const std::string kState = "model.diffusion_model.state_unet.";

void check_fixture(const char* name) {
  const std::filesystem::path path = source_dir() / "tests/fixtures" / name;
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "fixture " << path << " not generated yet";
  const io::WeightStore fx = io::WeightStore::open(path.string());
  const ConditionalUnet1DConfig config = tiny_config();

  // Upstream layouts -> channels-last: images [B, 3, O, H, W] -> [B, O, H, W, 3]; hs_a [B, T, C, h, w] -> [B, T, h, w, C].
  const Tensor images = ops::contiguous(fx.load("input.obs_images").permute({0, 2, 3, 4, 1}));
  const Tensor state = fx.load("input.obs_state");
  std::vector<Tensor> hs_a;
  for (int i = 0; i < 9; ++i)
    hs_a.push_back(ops::contiguous(fx.load("output.hs_a." + std::to_string(i)).permute({0, 1, 3, 4, 2})));
  const Tensor t = fx.load("input.timesteps");

  for (const auto& [prefix, sample, expected] :
       {std::tuple{kAction, "input.x_action", "output.action_eps"}, std::tuple{kState, "input.x_state", "output.state_eps"}}) {
    const io::WeightStore store = deterministic_head_store(config, prefix);
    const ConditionalUnet1D head(store, config, {}, prefix);
    const Tensor global_cond = head.encode_observation(images, state);
    const Tensor eps = head(fx.load(sample), t, hs_a, global_cond);
    const double err = relative_error(eps, fx.load(expected));
    std::printf("[heads] %s %s %s: max rel err %.3g\n", name, prefix.c_str(), shape_str(eps.shape()).c_str(), err);
    EXPECT_LE(err, kTolerance) << name << " " << prefix;
  }
}

TEST(HeadsFixture, PolicyPassMatchesUpstream) { check_fixture("wma_policy.safetensors"); }
TEST(HeadsFixture, WorldPassMatchesUpstream) { check_fixture("wma_world.safetensors"); }

TEST(HeadsLoad, UnusedAndSharedKeysFollowUpstreamStateDict) {
  const ConditionalUnet1DConfig config = tiny_config();
  const io::WeightStore store = deterministic_head_store(config, kAction);
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

TEST(HeadsConfig, UpstreamInteractionYamlGivesSpecSizes) {
  const char* shared = std::getenv("WMA_SHARED_DIR");
  const auto path = std::filesystem::path(shared ? shared : "../shared") /
                    "data/upstream/configs/inference/world_model_interaction.yaml";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no upstream config at " << path;
  const io::YamlNode yaml = io::load_yaml(path.string());
  const ConditionalUnet1DConfig c = ConditionalUnet1DConfig::from_yaml(yaml.at_path("model.params"), 320, 512, 16);
  EXPECT_EQ(c.context_dims, (std::vector<std::int64_t>{320, 640, 1280, 1280}));
  EXPECT_EQ(c.down_dims, (std::vector<std::int64_t>{256, 512, 1024, 2048}));
  EXPECT_EQ(c.step_embed_dim, 128);
  EXPECT_EQ(c.obs.num_kp, 128);
  EXPECT_EQ(c.global_cond_dim(), 544);
  EXPECT_EQ(c.kernel_size, 5);
  EXPECT_EQ(c.image_height, 40);
  EXPECT_EQ(c.image_width, 64);
}

}  // namespace
}  // namespace wma::models
