// Shared helpers of the pipeline tests: paths, the tiny fixture model (built once), error measures.
#pragma once

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "models/clip_tokenizer.h"
#include "ops/ops.h"
#include "pipeline/world_model.h"

namespace wma::pipeline::test {

inline std::filesystem::path source_dir() {
  const char* dir = std::getenv("WMA_SOURCE_DIR");
  return dir ? dir : ".";
}
inline std::filesystem::path shared_dir() {
  const char* dir = std::getenv("WMA_SHARED_DIR");
  return dir ? dir : "../shared";
}
inline std::filesystem::path tiny_yaml() { return source_dir() / "tests/fixtures/configs/tiny.yaml"; }
inline std::filesystem::path bpe_path() { return shared_dir() / "data/openclip/bpe_simple_vocab_16e6.txt.gz"; }
inline std::filesystem::path prompts_dir() {
  return shared_dir() / "data/upstream/examples/world_model_interaction_prompts";
}

struct TinyModel {
  WorldModelConfig config;
  io::WeightStore store;
  WorldModel model;
  models::ClipTokenizer tokenizer;
  TinyModel()
      : config(WorldModelConfig::load(tiny_yaml().string())),
        store(deterministic_world_model_store(config)),
        model(store, config),
        tokenizer(models::ClipTokenizer::load(bpe_path().string())) {}
};

inline const TinyModel& tiny_model() {
  static const TinyModel model;
  return model;
}

// max |a - b| / max |b|.
inline double relative_error(const Tensor& actual, const Tensor& expected) {
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

}  // namespace wma::pipeline::test
