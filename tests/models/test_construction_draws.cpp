// upstream_construction_draws (models/construction_draws.h) against the counts tools/rng/construction_draws.py
// measured on torch's own generator while building upstream's model: the tiny fixture config and the
// released world_model_interaction.yaml, part by part.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "models/construction_draws.h"
#include "util/model_test_util.h"
#include "util/test_data.h"

namespace wma::models {
namespace {

// The `part` and `result` records of tests/data/rng/construction_<config>.txt.
struct Measured {
  std::map<std::string, std::uint64_t> parts;
  std::uint64_t total = 0;
};

Measured read_measured(const std::string& config) {
  const auto path = test::source_dir() / "tests/data/rng" / ("construction_" + config + ".txt");
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  Measured m;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string kind, tok;
    ss >> kind;
    std::map<std::string, std::string> f;
    while (ss >> tok) f[tok.substr(0, tok.find('='))] = tok.substr(tok.find('=') + 1);
    if (kind == "part") m.parts[f.at("name")] = std::stoull(f.at("outputs"));
    if (kind == "result") {
      m.total = std::stoull(f.at("outputs"));
      EXPECT_EQ(f.at("scalar_cache"), "none") << path;
    }
  }
  return m;
}

void expect_matches(const ConstructionDraws& derived, const Measured& measured) {
  EXPECT_EQ(derived.parts.size(), measured.parts.size());
  for (const auto& [name, outputs] : measured.parts) EXPECT_EQ(derived.of(name), outputs) << name;
  EXPECT_EQ(derived.total(), measured.total);
}

TEST(ConstructionDraws, TinyConfigMatchesTorch) {
  expect_matches(upstream_construction_draws(test::tiny_yaml(), test::tiny_obs()), read_measured("tiny"));
}

TEST(ConstructionDraws, ReleasedConfigMatchesTorch) {
  const auto path = test_data::upstream_configs() / "world_model_interaction.yaml";
  WMA_REQUIRE_UPSTREAM(path, "configs/inference/world_model_interaction.yaml");
  // The heads' shapes default to configs/train/meta.json's, which upstream reads from its working directory.
  expect_matches(upstream_construction_draws(io::load_yaml(path.string()), ObsShapeMeta{}), read_measured("full"));
}

}  // namespace
}  // namespace wma::models
