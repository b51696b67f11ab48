// Parity of cond_stage_model (models/clip_text.h) with upstream's FrozenOpenCLIPEmbedder, layer
// "penultimate" (tests/fixtures/clip_text.safetensors, tools/reference with deterministic weights
// at the tiny text configuration), and of the tokenizer -> encoder path.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "io/json.h"
#include "io/safetensors.h"
#include "io/weight_store.h"
#include "io/yaml.h"
#include "models/clip_text.h"
#include "models/clip_tokenizer.h"
#include "models/deterministic_source.h"
#include "ops/ops.h"

namespace wma::models {
namespace {

constexpr double kTolerance = 1e-5;

std::filesystem::path source_dir() {
  const char* dir = std::getenv("WMA_SOURCE_DIR");
  return dir ? dir : ".";
}

// open_clip_model_configs[cond_stage_config.params.arch].text_cfg of the tiny fixture yaml.
ClipTextConfig tiny_config() {
  const io::YamlNode yaml = io::load_yaml((source_dir() / "tests/fixtures/configs/tiny.yaml").string());
  const std::string arch = yaml.at_path("model.params.cond_stage_config.params.arch").as_string();
  const io::YamlNode& t = yaml["open_clip_model_configs"][arch]["text_cfg"];
  ClipTextConfig c;
  c.context_length = static_cast<int>(t["context_length"].as_int());
  c.vocab_size = static_cast<int>(t["vocab_size"].as_int());
  c.width = static_cast<int>(t["width"].as_int());
  c.heads = static_cast<int>(t["heads"].as_int());
  c.layers = static_cast<int>(t["layers"].as_int());
  c.mlp_ratio = t.get_double("mlp_ratio", 4.0);
  return c;
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

const std::string kPrefix = "cond_stage_model.model.";

// Deterministic weights for exactly the keys the encoder reads. The recording pass runs against
// an empty store, where the strict load reports every key missing; only the listing matters.
io::WeightStore deterministic_text_store(const ClipTextConfig& config) {
  return deterministic_store_for([&](const io::WeightStore& s) {
    try {
      ClipTextEncoder(s, config, {}, kPrefix);
    } catch (const Error&) {
    }
  });
}

class ClipTextFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = source_dir() / "tests/fixtures/clip_text.safetensors";
    if (!std::filesystem::exists(path_)) GTEST_SKIP() << "fixture " << path_ << " not generated yet";
  }
  std::filesystem::path path_;
};

TEST_F(ClipTextFixture, PenultimateLayerMatchesUpstream) {
  const io::WeightStore fx = io::WeightStore::open(path_.string());
  const ClipTextConfig config = tiny_config();
  const io::WeightStore store = deterministic_text_store(config);
  const ClipTextEncoder encoder(store, config, {}, kPrefix);

  const Tensor tokens = fx.load("input.tokens");
  std::vector<Tensor> rows;
  for (std::int64_t i : fx.load("input.output_prompt_index").to_ints()) rows.push_back(tokens.slice(0, i, i + 1));
  const Tensor z = encoder(ops::concat(rows, 0));
  const double err = relative_error(z, fx.load("output.z"));
  std::printf("[clip_text] z %s: max rel err %.3g\n", shape_str(z.shape()).c_str(), err);
  EXPECT_LE(err, kTolerance);
}

TEST_F(ClipTextFixture, TokenizerThenEncoderMatchesUpstream) {
  const char* shared = std::getenv("WMA_SHARED_DIR");
  const auto vocab = std::filesystem::path(shared ? shared : "../shared") / "data/openclip/bpe_simple_vocab_16e6.txt.gz";
  if (!std::filesystem::exists(vocab)) GTEST_SKIP() << "no vocabulary at " << vocab;
  const io::SafetensorsSource fx(path_.string());
  std::string prompts_text;
  for (const auto& [k, v] : fx.metadata())
    if (k == "prompts") prompts_text = v.as_string();
  const io::json::Value prompts = io::json::parse(prompts_text);
  std::vector<std::string> texts;
  for (std::int64_t i : fx.load("input.output_prompt_index").to_ints())
    texts.push_back(prompts.as_array()[static_cast<std::size_t>(i)].as_string());

  const ClipTextConfig config = tiny_config();
  const io::WeightStore store = deterministic_text_store(config);
  const ClipTextEncoder encoder(store, config, {}, kPrefix);
  const Tensor z = encoder(ClipTokenizer::load(vocab.string()).tokenize(texts));
  const double err = relative_error(z, fx.load("output.z"));
  std::printf("[clip_text] tokenizer + encoder: max rel err %.3g\n", err);
  EXPECT_LE(err, kTolerance);
}

TEST(ClipTextLoad, SkippedBlockAndProjectionAreAcceptedOthersAreNot) {
  const ClipTextConfig config = tiny_config();
  const io::WeightStore store = deterministic_text_store(config);
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
