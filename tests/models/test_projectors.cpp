// Parity of the state/action token modules with upstream (tests/fixtures/projectors.safetensors, written
// by tools/reference/fixtures_components.py with deterministic weights): MLPProjector + agent_*_pos_emb
// (models/projectors.h) and model.diffusion_model.action_token_projector (models/sa_token_projector.h).
#include <gtest/gtest.h>

#include <string>

#include "models/projectors.h"
#include "models/sa_token_projector.h"
#include "util/model_test_util.h"

namespace wma::models {
namespace {

constexpr double kTolerance = 1e-5;

void expect_match(const char* what, const Tensor& actual, const Tensor& expected) {
  test::expect_close("projectors", what, actual, expected, kTolerance);
}

TEST(ProjectorsFixture, StateAndActionTokensMatchUpstream) {
  const io::WeightStore fx = test::load_fixture("projectors.safetensors");
  const AgentProjectorsConfig& config = test::tiny_config().projectors;
  const io::WeightStore store = test::deterministic_store<AgentProjectors>(config);
  const AgentProjectors projectors(store, config);
  expect_match("state_emb", projectors.embed_states(fx.load("input.state")), fx.load("output.state_emb"));
  expect_match("action_emb", projectors.embed_actions(fx.load("input.action")), fx.load("output.action_emb"));
}

TEST(ProjectorsFixture, ActionTokenProjectorMatchesUpstream) {
  const io::WeightStore fx = test::load_fixture("projectors.safetensors");
  const SATokenProjectorConfig& config = test::tiny_config().diffusion.action_token_projector;
  const io::WeightStore store = test::deterministic_store<SATokenProjector>(config);
  const SATokenProjector projector(store, config);
  expect_match("sa_tokens", projector(fx.load("input.sa_token")), fx.load("output.sa_tokens"));
}

TEST(ProjectorsLoad, ErrorsOfEveryPrefixAreReportedTogether) {
  const AgentProjectorsConfig& config = test::tiny_config().projectors;
  const io::WeightStore store = test::deterministic_store<AgentProjectors>(config);
  const std::string missing = "action_projector.projector.2.bias";
  const std::string misshaped = "agent_state_pos_emb";
  ASSERT_TRUE(store.contains(missing));
  ASSERT_TRUE(store.contains(misshaped));
  const io::WeightStore edited = test::edited_copy(store, missing, misshaped);
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
