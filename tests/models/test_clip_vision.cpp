// Parity of the embedder (models/clip_vision.h) with upstream's FrozenOpenCLIPImageEmbedderV2 on
// open_clip 2.22 (tests/fixtures/clip_vision.safetensors, written by tools/reference/fixtures_components.py
// with deterministic weights): the kornia preprocessing at 320x512 and the 257 tokens at two frame sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "io/weight_store.h"
#include "io/yaml.h"
#include "models/clip_vision.h"
#include "models/deterministic_source.h"
#include "ops/ops.h"

namespace wma::models {
namespace {

constexpr double kTolerance = 1e-5;

std::filesystem::path source_dir() {
  const char* dir = std::getenv("WMA_SOURCE_DIR");  // set by ctest
  return dir ? dir : ".";
}

// The modules load strictly, so building one against the empty listing store throws once it has
// asked for every key; the listing is complete by then.
io::WeightStore listing_store(const std::function<void(const io::WeightStore&)>& build) {
  return deterministic_store_for([&](const io::WeightStore& s) {
    try {
      build(s);
    } catch (const Error&) {
    }
  });
}

// open_clip `vision_cfg` of the arch the tiny yaml's img_cond_stage_config names.
ClipVisionConfig tiny_config() {
  const io::YamlNode yaml = io::load_yaml((source_dir() / "tests/fixtures/configs/tiny.yaml").string());
  const std::string arch = yaml.at_path("model.params.img_cond_stage_config.params.arch").as_string();
  const io::YamlNode& v = yaml["open_clip_model_configs"][arch]["vision_cfg"];
  ClipVisionConfig c;
  c.image_size = static_cast<int>(v["image_size"].as_int());
  c.patch_size = static_cast<int>(v["patch_size"].as_int());
  c.width = static_cast<int>(v["width"].as_int());
  c.layers = static_cast<int>(v["layers"].as_int());
  c.heads = c.width / static_cast<int>(v.get_int("head_width", 64));
  c.mlp_ratio = v.get_double("mlp_ratio", 4.0);
  return c;
}

// max |a - b| / max |b| over all elements.
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

void expect_match(const std::string& what, const Tensor& actual, const Tensor& expected) {
  const double err = relative_error(actual, expected);
  std::printf("[clip_vision] %s %s: max rel err %.3g\n", what.c_str(), shape_str(expected.shape()).c_str(), err);
  EXPECT_LE(err, kTolerance) << what;
}

// torch [N, C, H, W] -> [N, H, W, C].
Tensor channels_last(const Tensor& t) { return ops::contiguous(t.permute({0, 2, 3, 1})); }

class ClipVisionFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::filesystem::path path = source_dir() / "tests/fixtures/clip_vision.safetensors";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "fixture " << path << " not generated yet";
    fx_.emplace(io::WeightStore::open(path.string()));
  }
  std::optional<io::WeightStore> fx_;
};

TEST_F(ClipVisionFixture, PreprocessingMatchesKornia) {
  const ClipVisionConfig config = tiny_config();
  const Tensor pre = clip_preprocess(channels_last(fx_->load("input.image_real")), config.image_size);
  expect_match("preprocessed 320x512", pre, channels_last(fx_->load("output.preprocessed_real")));
}

TEST_F(ClipVisionFixture, TokensMatchUpstream) {
  const ClipVisionConfig config = tiny_config();
  const io::WeightStore store =
      listing_store([&](const io::WeightStore& s) { ClipImageEmbedder(s, config); });
  const ClipImageEmbedder embedder(store, config);
  for (const std::string name : {"real", "tiny"}) {
    const Tensor tokens = embedder(channels_last(fx_->load("input.image_" + name)));
    expect_match("tokens " + name, tokens, fx_->load("output.tokens_" + name));
  }
}

TEST(ClipVisionLoad, UnusedCheckpointEntriesAreAccepted) {
  // Upstream's checkpoint keeps ln_post/proj and the text tower's leftovers under `embedder.model.`.
  const ClipVisionConfig config = tiny_config();
  const io::WeightStore store = listing_store([&](const io::WeightStore& s) {
    const nn::WeightBinder extra(s, "embedder.model.", {});
    extra.take("visual.ln_post.weight", {config.width});
    extra.take("visual.ln_post.bias", {config.width});
    extra.take("visual.proj", {config.width, 64});
    extra.take("token_embedding.weight", {49408, 8});
    extra.take("positional_embedding", {77, 8});
    extra.take("ln_final.weight", {8});
    extra.take("ln_final.bias", {8});
    extra.take("text_projection", {8, 64});
    extra.take("logit_scale", {});
    ClipImageEmbedder(s, config);
  });
  ASSERT_TRUE(store.contains("embedder.model.visual.proj"));
  EXPECT_NO_THROW(ClipImageEmbedder(store, config));
}

TEST(ClipVisionLoad, MissingBlockKeyIsNamed) {
  ClipVisionConfig config = tiny_config();
  const io::WeightStore store = listing_store([&](const io::WeightStore& s) { ClipImageEmbedder(s, config); });
  config.layers += 1;
  try {
    ClipImageEmbedder embedder(store, config);
    ADD_FAILURE() << "a deeper tower loaded from a shallower store";
  } catch (const Error& e) {
    const std::string msg = e.what();
    const std::string block = "embedder.model.visual.transformer.resblocks." + std::to_string(config.layers - 1);
    EXPECT_NE(msg.find("12 missing (" + block + ".ln_1.weight"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace wma::models
