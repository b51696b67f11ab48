// Shared helpers for the io tests: locating test data, reading the torch listings written by
// tools/testdata/make_ckpt_testdata.py, temporary paths and running the `wma` binary.
#pragma once

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace wma::io::testing {

inline std::string source_dir() {
  const char* s = std::getenv("WMA_SOURCE_DIR");
  return s != nullptr ? s : ".";
}

inline std::string data_path(const std::string& name) { return source_dir() + "/tests/data/ckpt/" + name; }

inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

// One line of a `.listing.txt`: name, dtype, shape and every value as torch printed it.
struct ListedTensor {
  std::string name;
  std::string dtype;
  Shape shape;
  std::vector<double> values;
};

inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

inline std::vector<ListedTensor> read_listing(const std::string& name) {
  std::vector<ListedTensor> out;
  std::istringstream in(read_text(data_path(name + ".listing.txt")));
  std::string line;
  while (std::getline(in, line)) {
    const auto f = split(line, '\t');
    if (f.size() != 4) {
      ADD_FAILURE() << "bad listing line: " << line;
      continue;
    }
    ListedTensor t;
    t.name = f[0];
    t.dtype = f[1];
    if (!f[2].empty())
      for (const auto& d : split(f[2], ',')) t.shape.push_back(std::stoll(d));
    std::istringstream vs(f[3]);
    std::string v;
    while (vs >> v) t.values.push_back(std::strtod(v.c_str(), nullptr));
    out.push_back(std::move(t));
  }
  return out;
}

// A fresh, empty directory for one test.
inline std::filesystem::path temp_dir(const std::string& tag) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::temp_directory_path() /
             ("wma_io_" + tag + "_" + info->name() + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// WMA_BINARY, else the `wma` next to the build's tests/ folder: ctest currently passes only the
// first variable of WMA_TEST_ENV (gtest_discover_tests splits the list).
inline std::string wma_binary() {
  if (const char* bin = std::getenv("WMA_BINARY")) return bin;
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("wma") : (self.parent_path().parent_path() / "wma").string();
}

// Runs `wma <args>`, capturing stdout and stderr.
inline RunResult run_wma(const std::string& args, const std::filesystem::path& scratch) {
  const std::string bin = wma_binary();
  RunResult r;
  if (!std::filesystem::exists(bin)) {
    ADD_FAILURE() << "wma binary not found at " << bin << " (set WMA_BINARY)";
    return r;
  }
  const auto out = scratch / "stdout.txt";
  const auto err = scratch / "stderr.txt";
  const std::string cmd = std::string("'") + bin + "' " + args + " >'" + out.string() + "' 2>'" + err.string() + "'";
  const int status = std::system(cmd.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_text(out.string());
  r.err = read_text(err.string());
  return r;
}

}  // namespace wma::io::testing
