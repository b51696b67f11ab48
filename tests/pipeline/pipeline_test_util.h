// Shared helpers of the pipeline tests: paths, the tiny fixture model (built once); the error measure is tests/models'.
#pragma once

#include <cmath>  // some tests rely on it through this header
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "../models/model_test_util.h"
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

// The heads' scheduler takes the recording machine's square roots (sampling/diffusers_ddim.h), as the fixtures
// were made with them.
inline WorldModelConfig load_fixture_config(const std::filesystem::path& yaml) {
  WorldModelConfig config = WorldModelConfig::load(yaml.string());
  config.head_scheduler.host_sqrt = models::test::recorded_host_sqrt();
  return config;
}

struct TinyModel {
  WorldModelConfig config;
  io::WeightStore store;
  WorldModel model;
  models::ClipTokenizer tokenizer;
  TinyModel()
      : config(load_fixture_config(tiny_yaml())),
        store(deterministic_world_model_store(config)),
        model(store, config),
        tokenizer(models::ClipTokenizer::load(bpe_path().string())) {}
};

inline const TinyModel& tiny_model() {
  static const TinyModel model;
  return model;
}

using models::test::relative_error;  // tests/models/model_test_util (compiled in via model_test_util.cpp)

}  // namespace wma::pipeline::test
