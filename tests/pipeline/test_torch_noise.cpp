// TorchNoise (pipeline/noise.h) for the tiny fixture config: the VAE posterior noise of the first encode is
// what torch's CPU generator gives after upstream built that model (tests/data/rng/construction_tiny.txt,
// recorded by tools/rng/construction_draws.py from upstream's own construction).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "pipeline/noise.h"
#include "pipeline_test_util.h"

namespace wma::pipeline {
namespace {

std::vector<std::map<std::string, std::string>> recorded_draws(const std::string& file) {
  std::ifstream in(test::source_dir() / "tests/data/rng" / file);
  EXPECT_TRUE(in) << "cannot open " << file;
  std::vector<std::map<std::string, std::string>> draws;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::string kind, tok;
    ss >> kind;
    if (kind != "draw") continue;
    std::map<std::string, std::string> f;
    while (ss >> tok) f[tok.substr(0, tok.find('='))] = tok.substr(tok.find('=') + 1);
    draws.push_back(f);
  }
  return draws;
}

// sum_i bits_i * (2i + 1) mod 2^64 (tools/rng/make_rng_fixtures.py) and the first recorded values.
void expect_recorded(const Tensor& t, const std::map<std::string, std::string>& rec) {
  const std::vector<float> v = t.to_floats();
  std::uint64_t digest = 0;
  for (std::size_t i = 0; i < v.size(); ++i) digest += std::uint64_t{float_bits(v[i])} * (2 * i + 1);
  EXPECT_EQ(digest, std::stoull(rec.at("digest"), nullptr, 16));
  std::istringstream head(rec.at("head"));
  std::string hex;
  for (std::size_t i = 0; std::getline(head, hex, ','); ++i)
    EXPECT_EQ(float_bits(v[i]), static_cast<std::uint32_t>(std::stoul(hex, nullptr, 16))) << "element " << i;
}

TEST(TorchNoise, PosteriorNoiseStartsWhereUpstreamsConstructionLeftTheCpuStream) {
  const WorldModelConfig config = WorldModelConfig::load(test::tiny_yaml().string());
  EXPECT_EQ(config.construction_cpu_draws, 462373341u);
  const auto draws = recorded_draws("construction_tiny.txt");
  ASSERT_EQ(draws.size(), 2u);
  TorchNoise noise(123, config.construction_cpu_draws);
  noise.randn_cuda({1, 16, 16});  // the CUDA stream is separate: it does not move the CPU one
  for (const auto& rec : draws) expect_recorded(noise.randn_cpu({1, 4, 40, 64}), rec);
}

TEST(TorchNoise, WithoutConstructionDrawsItIsAFreshSeed) {
  TorchNoise noise(123);
  TorchCpuGenerator fresh(123);
  EXPECT_EQ(float_bits(noise.randn_cpu({20}).to_floats()[19]), float_bits(fresh.randn({20}).to_floats()[19]));
}

}  // namespace
}  // namespace wma::pipeline
