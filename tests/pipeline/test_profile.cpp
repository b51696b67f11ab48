// The profile table and profile.json (pipeline/profile.h, app/cli.h build_model and run_record): GPU memory as
// peak and average of the readings at section ends, the run's description in the JSON, and `wma demo`'s table and
// JSON with the loading sections split as model_loading/config, model_loading/checkpoint and (on a GPU)
// model_to_cuda, and the host's resident memory once the model is loaded.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "io/json.h"
#include "pipeline/profile.h"

namespace wma::pipeline {
namespace {
namespace fs = std::filesystem;

std::string read_all(const fs::path& p) {
  std::ifstream f(p);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

constexpr std::uint64_t kMiB = 1u << 20;

TEST(Profile, GpuMemoryIsThePeakAndTheAverageOfTheSectionEnds) {
  Profiler profiler;
  const std::uint64_t live[] = {100 * kMiB, 300 * kMiB, 200 * kMiB};
  int reading = 0;
  profiler.track_gpu_memory([&] { return Profiler::GpuMemoryReading{live[reading], 512 * kMiB}; });
  for (reading = 0; reading < 3; ++reading) {
    const auto timer = Profiler::scope(&profiler, reading == 1 ? "b" : "a");
  }
  const std::string table = profiler.table();
  EXPECT_NE(table.find("peak gpu allocated: 512.0 MiB"), std::string::npos) << table;
  EXPECT_NE(table.find("average gpu allocated: 200.0 MiB"), std::string::npos) << table;
  const io::json::Value doc = profiler.to_json();
  const io::json::Value* memory = doc.find("memory");
  ASSERT_NE(memory, nullptr);
  EXPECT_EQ(memory->find("peak_gpu_allocated_bytes")->as_int(), static_cast<std::int64_t>(512 * kMiB));
  EXPECT_EQ(memory->find("average_gpu_allocated_bytes")->as_int(), static_cast<std::int64_t>(200 * kMiB));
  EXPECT_EQ(doc.find("sections")->find("a")->find("count")->as_int(), 2);
}

TEST(Profile, WithoutAGpuThereAreNoGpuLines) {
  Profiler profiler;
  { const auto timer = Profiler::scope(&profiler, "a"); }
  EXPECT_EQ(profiler.table().find("gpu"), std::string::npos) << profiler.table();
  EXPECT_EQ(profiler.to_json().find("memory")->find("peak_gpu_allocated_bytes"), nullptr);
  EXPECT_EQ(profiler.to_json().find("run"), nullptr);
}

TEST(Profile, ReadingsAreShownAsTheyWereTaken) {
  Profiler profiler;
  profiler.add("a", 1.0);
  profiler.set_reading("host_resident_after_loading", 1536 * kMiB);
  EXPECT_NE(profiler.table().find("\nhost_resident_after_loading: 1536.0 MiB\n"), std::string::npos)
      << profiler.table();
  EXPECT_EQ(profiler.to_json().find("memory")->find("host_resident_after_loading_bytes")->as_int(),
            static_cast<std::int64_t>(1536 * kMiB));
  // This test binary's own pages: more than a megabyte, far less than a gigabyte.
  EXPECT_GT(resident_host_memory_bytes(), kMiB);
  EXPECT_LT(resident_host_memory_bytes(), 1024 * kMiB);
}

TEST(Profile, RunRecordComesFirstInTheJson) {
  Profiler profiler;
  profiler.set_run(io::json::Object{{"command", "demo"}, {"seed", 7}});
  profiler.add("a", 1.5);
  const io::json::Value doc = profiler.to_json();
  ASSERT_FALSE(doc.as_object().empty());
  EXPECT_EQ(doc.as_object().front().first, "run");
  EXPECT_EQ(doc.find("run")->find("seed")->as_int(), 7);
  EXPECT_DOUBLE_EQ(doc.find("sections")->find("a")->find("total_s")->as_number(), 1.5);
}

// `wma demo` end to end on whatever device it picks: the table on stdout and profile.json name the loading
// sections and say what ran; GPU memory and model_to_cuda appear exactly when it ran on CUDA.
TEST(Profile, DemoTableAndJsonDescribeTheRun) {
  const fs::path dir = fs::temp_directory_path() / ("wma_profile_demo_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const char* bin = std::getenv("WMA_BINARY");
  const fs::path table_file = dir.string() + ".table";
  const std::string cmd = std::string(bin ? bin : "wma") +
                          " demo --ddim_steps 1 --n_iter 1 --seed 5 --quiet --savedir " + dir.string() + " > " +
                          table_file.string() + " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const std::string table = read_all(table_file);
  fs::remove(table_file);
  const io::json::Value doc = io::json::parse(read_all(dir / "profile.json"));
  fs::remove_all(dir);

  const io::json::Value* run = doc.find("run");
  ASSERT_NE(run, nullptr);
  EXPECT_EQ(run->find("command")->as_string(), "demo");
  EXPECT_EQ(run->find("seed")->as_int(), 5);
  const io::json::Array& arguments = run->find("arguments")->as_array();
  ASSERT_GE(arguments.size(), 2u);
  EXPECT_EQ(arguments[0].as_string(), "--ddim_steps");
  EXPECT_EQ(arguments[1].as_string(), "1");
  EXPECT_FALSE(run->find("version")->as_string().empty());
  EXPECT_FALSE(run->find("commit")->as_string().empty());
  EXPECT_NE(run->find("build"), nullptr);
  const std::string device = run->find("device")->as_string();
  ASSERT_TRUE(device == "cpu" || device == "cuda") << device;
  const std::string precision = run->find("precision")->as_string();
  EXPECT_EQ(precision, device == "cpu" ? "fp32" : "fp16");
  const bool gpu = device == "cuda";
  EXPECT_EQ(run->find("gpu") != nullptr, gpu);

  const io::json::Value* sections = doc.find("sections");
  ASSERT_NE(sections, nullptr);
  for (const char* name :
       {"model_loading", "model_loading/config", "model_loading/checkpoint", "iteration_total", "save_results"}) {
    EXPECT_NE(sections->find(name), nullptr) << name;
    EXPECT_NE(table.find(std::string(name) + " "), std::string::npos) << name << " not in\n" << table;
  }
  const double loading = sections->find("model_loading")->find("total_s")->as_number();
  const double parts = sections->find("model_loading/config")->find("total_s")->as_number() +
                       sections->find("model_loading/checkpoint")->find("total_s")->as_number();
  EXPECT_LE(parts, loading * (1 + 1e-9));
  EXPECT_EQ(sections->find("model_to_cuda") != nullptr, gpu);
  EXPECT_EQ(doc.find("memory")->find("peak_gpu_allocated_bytes") != nullptr, gpu);
  EXPECT_EQ(table.find("average gpu allocated: ") != std::string::npos, gpu) << table;
  const io::json::Value* memory = doc.find("memory");
  const std::int64_t resident = memory->find("host_resident_after_loading_bytes")->as_int();
  EXPECT_GT(resident, static_cast<std::int64_t>(kMiB));
  EXPECT_NE(table.find("host_resident_after_loading: "), std::string::npos) << table;
}

}  // namespace
}  // namespace wma::pipeline
