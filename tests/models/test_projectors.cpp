// Parity of the state/action token modules with upstream (tests/fixtures/projectors.safetensors, written
// by tools/reference/fixtures_components.py with deterministic weights): MLPProjector + agent_*_pos_emb
// (models/projectors.h) and model.diffusion_model.action_token_projector (models/sa_token_projector.h).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <unistd.h>

#include "io/safetensors.h"
#include "io/weight_store.h"
#include "io/yaml.h"
#include "models/deterministic_source.h"
#include "models/projectors.h"
#include "models/sa_token_projector.h"
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

io::YamlNode tiny_yaml() { return io::load_yaml((source_dir() / "tests/fixtures/configs/tiny.yaml").string()); }

AgentProjectorsConfig projectors_config(const io::YamlNode& yaml) {
  const io::YamlNode& p = yaml.at_path("model.params");
  AgentProjectorsConfig c;
  c.agent_state_dim = p["agent_state_dim"].as_int();
  c.agent_action_dim = p["agent_action_dim"].as_int();
  c.n_obs_steps_imagen = p["n_obs_steps_imagen"].as_int();
  return c;
}

SATokenProjectorConfig sa_config(const io::YamlNode& yaml) {
  const io::YamlNode& p = yaml.at_path("model.params.wma_config.params.stem_process_config.params");
  SATokenProjectorConfig c;
  c.dim = p["dim"].as_int();
  c.depth = static_cast<int>(p["depth"].as_int());
  c.dim_head = static_cast<int>(p["dim_head"].as_int());
  c.heads = static_cast<int>(p["heads"].as_int());
  c.num_queries = p["num_queries"].as_int();
  c.output_dim = p["output_dim"].as_int();
  c.ff_mult = static_cast<int>(p["ff_mult"].as_int());
  c.chunk_size = p["chunk_size"].as_int();
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

void expect_match(const char* what, const Tensor& actual, const Tensor& expected) {
  const double err = relative_error(actual, expected);
  std::printf("[projectors] %s %s: max rel err %.3g\n", what, shape_str(expected.shape()).c_str(), err);
  EXPECT_LE(err, kTolerance) << what;
}

// A copy of `store` in a temporary safetensors file without `drop` and with `misshape` one element longer.
io::WeightStore edited_copy(const io::WeightStore& store, const std::string& drop, const std::string& misshape) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("wma_test_projectors_" + std::to_string(::getpid()) + ".safetensors");
  io::SafetensorsWriter writer(path.string());
  for (const std::string& key : store.keys()) {
    if (key == drop) continue;
    const Tensor t = store.load(key);
    writer.add(key, key == misshape ? Tensor::zeros({t.numel() + 1}) : t);
  }
  writer.finish();
  io::WeightStore edited = io::WeightStore::open(path.string());
  std::filesystem::remove(path);  // the mapping stays valid
  return edited;
}

class ProjectorsFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::filesystem::path path = source_dir() / "tests/fixtures/projectors.safetensors";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "fixture " << path << " not generated yet";
    fx_.emplace(io::WeightStore::open(path.string()));
  }
  std::optional<io::WeightStore> fx_;
};

TEST_F(ProjectorsFixture, StateAndActionTokensMatchUpstream) {
  const AgentProjectorsConfig config = projectors_config(tiny_yaml());
  const io::WeightStore store =
      listing_store([&](const io::WeightStore& s) { AgentProjectors(s, config); });
  const AgentProjectors projectors(store, config);
  expect_match("state_emb", projectors.embed_states(fx_->load("input.state")), fx_->load("output.state_emb"));
  expect_match("action_emb", projectors.embed_actions(fx_->load("input.action")), fx_->load("output.action_emb"));
}

TEST_F(ProjectorsFixture, ActionTokenProjectorMatchesUpstream) {
  const SATokenProjectorConfig config = sa_config(tiny_yaml());
  const io::WeightStore store =
      listing_store([&](const io::WeightStore& s) { SATokenProjector(s, config); });
  const SATokenProjector projector(store, config);
  expect_match("sa_tokens", projector(fx_->load("input.sa_token")), fx_->load("output.sa_tokens"));
}

TEST(ProjectorsLoad, ErrorsOfEveryPrefixAreReportedTogether) {
  const AgentProjectorsConfig config = projectors_config(tiny_yaml());
  const io::WeightStore store =
      listing_store([&](const io::WeightStore& s) { AgentProjectors(s, config); });
  const std::string missing = "action_projector.projector.2.bias";
  const std::string misshaped = "agent_state_pos_emb";
  ASSERT_TRUE(store.contains(missing));
  ASSERT_TRUE(store.contains(misshaped));
  const io::WeightStore edited = edited_copy(store, missing, misshaped);
  try {
    AgentProjectors projectors(edited, config);
    ADD_FAILURE() << "loading succeeded without " << missing;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("1 missing (" + missing + ")"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mis-shaped (" + misshaped + " (expected [1, 2, 1024]"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace wma::models
