// Parity of the embedder (models/clip_vision.h) with upstream's FrozenOpenCLIPImageEmbedderV2 on
// open_clip 2.22 (tests/fixtures/clip_vision.safetensors, written by tools/reference/fixtures_components.py
// with deterministic weights): the kornia preprocessing at 320x512 and the 257 tokens at two frame sizes.
#include <gtest/gtest.h>

#include <string>

#include "models/clip_vision.h"
#include "util/model_test_util.h"

namespace wma::models {
namespace {

using test::channels_last;

constexpr double kTolerance = 1e-5;

void expect_match(const std::string& what, const Tensor& actual, const Tensor& expected) {
  test::expect_close("clip_vision", what, actual, expected, kTolerance);
}

TEST(ClipVisionFixture, PreprocessingMatchesKornia) {
  const io::WeightStore fx = test::load_fixture("clip_vision.safetensors");
  const ClipVisionConfig& config = test::tiny_config().vision;
  const Tensor pre = clip_preprocess(channels_last(fx.load("input.image_real")), config.image_size);
  expect_match("preprocessed 320x512", pre, channels_last(fx.load("output.preprocessed_real")));
}

TEST(ClipVisionFixture, TokensMatchUpstream) {
  const io::WeightStore fx = test::load_fixture("clip_vision.safetensors");
  const ClipVisionConfig& config = test::tiny_config().vision;
  const io::WeightStore store = test::deterministic_store<ClipImageEmbedder>(config);
  const ClipImageEmbedder embedder(store, config);
  for (const std::string name : {"real", "tiny"}) {
    const Tensor tokens = embedder(channels_last(fx.load("input.image_" + name)));
    expect_match("tokens " + name, tokens, fx.load("output.tokens_" + name));
  }
}

TEST(ClipVisionLoad, UnusedCheckpointEntriesAreAccepted) {
  // Upstream's checkpoint keeps ln_post/proj and the text tower's leftovers under `embedder.model.`.
  const ClipVisionConfig& config = test::tiny_config().vision;
  const io::WeightStore store = deterministic_store_for([&](const io::WeightStore& s) {
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
  ClipVisionConfig config = test::tiny_config().vision;
  const io::WeightStore store = test::deterministic_store<ClipImageEmbedder>(config);
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
