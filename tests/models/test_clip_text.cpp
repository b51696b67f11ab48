// Parity of cond_stage_model (models/clip_text.h) with upstream's FrozenOpenCLIPEmbedder, layer
// "penultimate" (tests/fixtures/clip_text.safetensors, tools/reference with deterministic weights
// at the tiny text configuration), and of the tokenizer -> encoder path.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "io/json.h"
#include "io/safetensors.h"
#include "models/clip_text.h"
#include "models/clip_tokenizer.h"
#include "ops/ops.h"
#include "util/model_test_util.h"
#include "util/test_data.h"

namespace wma::models {
namespace {

constexpr double kTolerance = 1e-5;
const std::string kPrefix = "cond_stage_model.model.";

TEST(ClipTextFixture, PenultimateLayerMatchesUpstream) {
  const io::WeightStore fx = test::load_fixture("clip_text.safetensors");
  const ClipTextConfig& config = test::tiny_config().text;
  const io::WeightStore store = test::deterministic_store<ClipTextEncoder>(config, kPrefix);
  const ClipTextEncoder encoder(store, config, {}, kPrefix);

  const Tensor tokens = fx.load("input.tokens");
  std::vector<Tensor> rows;
  for (std::int64_t i : fx.load("input.output_prompt_index").to_ints()) rows.push_back(tokens.slice(0, i, i + 1));
  test::expect_close("clip_text", "z", encoder(ops::concat(rows, 0)), fx.load("output.z"), kTolerance);
}

TEST(ClipTextFixture, TokenizerThenEncoderMatchesUpstream) {
  WMA_REQUIRE_BPE();
  const auto vocab = test_data::bpe_vocab();
  const io::SafetensorsSource fx(test::fixture_path("clip_text.safetensors").string());
  std::string prompts_text;
  for (const auto& [k, v] : fx.metadata())
    if (k == "prompts") prompts_text = v.as_string();
  const io::json::Value prompts = io::json::parse(prompts_text);
  std::vector<std::string> texts;
  for (std::int64_t i : fx.load("input.output_prompt_index").to_ints())
    texts.push_back(prompts.as_array()[static_cast<std::size_t>(i)].as_string());

  const ClipTextConfig& config = test::tiny_config().text;
  const io::WeightStore store = test::deterministic_store<ClipTextEncoder>(config, kPrefix);
  const ClipTextEncoder encoder(store, config, {}, kPrefix);
  const Tensor z = encoder(ClipTokenizer::load(vocab.string()).tokenize(texts));
  test::expect_close("clip_text", "tokenizer + encoder", z, fx.load("output.z"), kTolerance);
}

TEST(ClipTextLoad, SkippedBlockAndProjectionAreAcceptedOthersAreNot) {
  const ClipTextConfig& config = test::tiny_config().text;
  const io::WeightStore store = test::deterministic_store<ClipTextEncoder>(config, kPrefix);
  std::vector<io::TensorInfo> listing;
  for (const std::string& key : store.keys()) listing.push_back(*store.find(key));
  const std::string last = kPrefix + "transformer.resblocks." + std::to_string(config.layers - 1) + ".";
  for (const auto& info : listing) EXPECT_NE(info.name.rfind(last, 0), 0u) << info.name << " should not be read";
  // A checkpoint with the unused upstream keys loads.
  std::vector<io::TensorInfo> full = listing;
  full.push_back({last + "ln_1.weight", DType::F32, {config.width}});
  full.push_back({kPrefix + "text_projection", DType::F32, {config.width, config.width}});
  full.push_back({kPrefix + "logit_scale", DType::F32, {}});
  EXPECT_NO_THROW(ClipTextEncoder(io::WeightStore(std::make_unique<DeterministicSource>(full)), config, {}, kPrefix));
  // An unknown key is reported by name.
  std::vector<io::TensorInfo> extra = listing;
  extra.push_back({kPrefix + "transformer.bogus", DType::F32, {4}});
  try {
    ClipTextEncoder(io::WeightStore(std::make_unique<DeterministicSource>(extra)), config, {}, kPrefix);
    FAIL() << "expected an unexpected-key error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("transformer.bogus"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace wma::models
