// Data the repository does not hold: upstream's configs and example data (an upstream checkout's configs/ and
// examples/) and OpenCLIP's vocabulary. A test that needs them skips with one line when they are absent, so a
// fresh clone passes on its own while a machine that has them (CI, through ../shared) runs every test.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace wma::test_data {

// $WMA_SHARED_DIR (the test main defaults it to ../shared beside the checkout).
inline std::filesystem::path shared_dir() {
  const char* dir = std::getenv("WMA_SHARED_DIR");
  return dir ? dir : "../shared";
}

// An upstream checkout: $WMA_UPSTREAM_DIR, else the copy under <shared>/data/upstream.
inline std::filesystem::path upstream_dir() {
  const char* dir = std::getenv("WMA_UPSTREAM_DIR");
  return dir && *dir ? std::filesystem::path(dir) : shared_dir() / "data/upstream";
}

inline std::filesystem::path upstream_configs() { return upstream_dir() / "configs/inference"; }
inline std::filesystem::path interaction_prompts() {
  return upstream_dir() / "examples/world_model_interaction_prompts";
}

// $WMA_BPE_PATH (as `wma` reads it), else <shared>/data/openclip.
inline std::filesystem::path bpe_vocab() {
  const char* path = std::getenv("WMA_BPE_PATH");
  return path && *path ? std::filesystem::path(path) : shared_dir() / "data/openclip/bpe_simple_vocab_16e6.txt.gz";
}

inline bool present(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

}  // namespace wma::test_data

// Skip the current test unless `path` (under upstream_dir()) exists; `what` names it in the one-line reason.
#define WMA_REQUIRE_UPSTREAM(path, what) \
  if (::wma::test_data::present(path)) { \
  } else GTEST_SKIP() << "needs upstream's " << (what) << " (set WMA_SHARED_DIR or WMA_UPSTREAM_DIR)"

// Skip the current test unless OpenCLIP's vocabulary is found: fixtures tokenized with it cannot be checked
// with another one.
#define WMA_REQUIRE_BPE()                                                                              \
  if (::wma::test_data::present(::wma::test_data::bpe_vocab())) {                                      \
  } else                                                                                               \
    GTEST_SKIP() << "needs OpenCLIP's vocabulary bpe_simple_vocab_16e6.txt.gz (set WMA_SHARED_DIR or " \
                    "WMA_BPE_PATH)"
