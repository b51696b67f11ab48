// Parity of image_proj_model (models/resampler.h, the Perceiver in models/perceiver.h) with upstream's
// Resampler (tests/fixtures/resampler.safetensors, written by tools/reference/fixtures_components.py
// with deterministic weights).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "io/weight_store.h"
#include "io/yaml.h"
#include "models/deterministic_source.h"
#include "models/resampler.h"
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

// `image_proj_stage_config.params` of the tiny fixture yaml.
ResamplerConfig tiny_config() {
  const io::YamlNode yaml = io::load_yaml((source_dir() / "tests/fixtures/configs/tiny.yaml").string());
  const io::YamlNode& p = yaml.at_path("model.params.image_proj_stage_config.params");
  ResamplerConfig c;
  c.dim = p["dim"].as_int();
  c.depth = static_cast<int>(p["depth"].as_int());
  c.dim_head = static_cast<int>(p["dim_head"].as_int());
  c.heads = static_cast<int>(p["heads"].as_int());
  c.num_queries = p["num_queries"].as_int();
  c.embedding_dim = p["embedding_dim"].as_int();
  c.output_dim = p["output_dim"].as_int();
  c.ff_mult = static_cast<int>(p["ff_mult"].as_int());
  c.video_length = p["video_length"].as_int();
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

TEST(ResamplerFixture, TokensMatchUpstream) {
  const std::filesystem::path path = source_dir() / "tests/fixtures/resampler.safetensors";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "fixture " << path << " not generated yet";
  const io::WeightStore fx = io::WeightStore::open(path.string());
  const ResamplerConfig config = tiny_config();
  const io::WeightStore store = listing_store([&](const io::WeightStore& s) { Resampler(s, config); });
  const Resampler resampler(store, config);

  const Tensor out = resampler(fx.load("input.clip_tokens"));
  const double err = relative_error(out, fx.load("output.tokens"));
  std::printf("[resampler] tokens %s: max rel err %.3g\n", shape_str(out.shape()).c_str(), err);
  EXPECT_LE(err, kTolerance);
}

TEST(ResamplerLoad, UnexpectedKeyIsNamed) {
  // A store built for depth 2 holds layers.1.*, which a depth-1 Resampler must refuse.
  const ResamplerConfig config = tiny_config();
  const io::WeightStore store = listing_store([&](const io::WeightStore& s) { Resampler(s, config); });
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
