// Parity of image_proj_model (models/resampler.h, the Perceiver in models/perceiver.h) with upstream's
// Resampler (tests/fixtures/resampler.safetensors, written by tools/reference/fixtures_components.py
// with deterministic weights).
#include <gtest/gtest.h>

#include <string>

#include "models/resampler.h"
#include "util/model_test_util.h"

namespace wma::models {
namespace {

constexpr double kTolerance = 1e-5;

TEST(ResamplerFixture, TokensMatchUpstream) {
  const io::WeightStore fx = test::load_fixture("resampler.safetensors");
  const ResamplerConfig& config = test::tiny_config().resampler;
  const io::WeightStore store = test::deterministic_store<Resampler>(config);
  const Resampler resampler(store, config);
  test::expect_close("resampler", "tokens", resampler(fx.load("input.clip_tokens")), fx.load("output.tokens"),
                     kTolerance);
}

TEST(ResamplerLoad, UnexpectedKeyIsNamed) {
  // A store built for depth 2 holds layers.1.*, which a depth-1 Resampler must refuse.
  const ResamplerConfig& config = test::tiny_config().resampler;
  const io::WeightStore store = test::deterministic_store<Resampler>(config);
  ResamplerConfig shallow = config;
  shallow.depth = 1;
  try {
    Resampler resampler(store, shallow);
    ADD_FAILURE() << "a depth-1 Resampler accepted depth-2 weights";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("unexpected (image_proj_model.layers.1."), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace wma::models
