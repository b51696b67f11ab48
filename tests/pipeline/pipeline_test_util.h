// Shared helpers of the pipeline tests: paths, the tiny fixture model (built once); the error measure is
// tests/util/model_test_util.h's. Data outside the repository is found through tests/util/test_data.h.
#pragma once

#include <unistd.h>

#include <cmath>  // some tests rely on it through this header
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "models/clip_tokenizer.h"
#include "ops/ops.h"
#include "pipeline/demo.h"
#include "pipeline/world_model.h"
#include "util/model_test_util.h"
#include "util/test_data.h"

namespace wma::pipeline::test {

inline std::filesystem::path source_dir() {
  const char* dir = std::getenv("WMA_SOURCE_DIR");
  return dir ? dir : ".";
}
inline std::filesystem::path tiny_yaml() { return source_dir() / "tests/fixtures/configs/tiny.yaml"; }
inline std::filesystem::path bpe_path() { return test_data::bpe_vocab(); }
inline std::filesystem::path prompts_dir() { return test_data::interaction_prompts(); }

// The demo's byte-level vocabulary in a temporary file (removed at exit), for runs of `wma` whose outputs no
// fixture recorded with OpenCLIP's vocabulary checks.
inline const std::filesystem::path& demo_vocab_file() {
  struct File {
    std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("wma_demo_vocab_" + std::to_string(::getpid()) + ".txt");
    File() { std::ofstream(path) << demo_merges_text(); }
    ~File() { std::filesystem::remove(path); }
  };
  static const File file;
  return file.path;
}

// The heads' scheduler takes the recording machine's square roots (sampling/diffusers_ddim.h), as the fixtures
// were made with them.
inline WorldModelConfig load_fixture_config(const std::filesystem::path& yaml) {
  WorldModelConfig config = WorldModelConfig::load(yaml.string());
  config.head_scheduler.host_sqrt = models::test::recorded_host_sqrt();
  return config;
}

// Its tokenizer is OpenCLIP's, as the fixtures were recorded with it: a test using it starts with WMA_REQUIRE_BPE().
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

using models::test::relative_error;

}  // namespace wma::pipeline::test
