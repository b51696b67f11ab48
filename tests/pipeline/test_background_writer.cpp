// The writer thread of the interaction loop's outputs (pipeline/background_writer.h): jobs in order, the first
// failure reported to the run, and `wma demo`'s files byte-identical to those written in line.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/background_writer.h"

namespace wma::pipeline {
namespace {
namespace fs = std::filesystem;

TEST(BackgroundWriter, RunsJobsInOrderOffTheCallingThread) {
  for (const bool threaded : {true, false}) {
    std::vector<int> order;
    std::vector<std::thread::id> threads;
    {
      BackgroundWriter writer(threaded);
      for (int i = 0; i < 100; ++i)
        writer.post([&order, &threads, i] {
          order.push_back(i);
          threads.push_back(std::this_thread::get_id());
        });
      writer.wait();
      ASSERT_EQ(order.size(), 100u);
    }
    for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
    EXPECT_EQ(threads.front() != std::this_thread::get_id(), threaded);
  }
}

TEST(BackgroundWriter, FirstFailureStopsTheWriterAndReachesTheRun) {
  BackgroundWriter writer(true);
  int ran = 0;
  writer.post([&] { ++ran; });
  writer.post([] { throw std::runtime_error("[output] cannot write x.mp4"); });
  writer.post([&] { ++ran; });
  try {
    writer.wait();
    FAIL() << "wait() returned after a failed job";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "[output] cannot write x.mp4");
  }
  EXPECT_EQ(ran, 1) << "jobs after the failure are dropped";
  EXPECT_THROW(writer.post([&] { ++ran; }), std::runtime_error);
  EXPECT_EQ(ran, 1);
}

TEST(BackgroundWriter, DestructorFinishesQueuedJobs) {
  int ran = 0;
  {
    BackgroundWriter writer(true);
    for (int i = 0; i < 10; ++i) writer.post([&] { ++ran; });
  }
  EXPECT_EQ(ran, 10);
}

std::map<std::string, std::string> files_under(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().filename() == "profile.json") continue;
    std::ifstream f(entry.path(), std::ios::binary);
    files[fs::relative(entry.path(), dir).string()] = {std::istreambuf_iterator<char>(f), {}};
  }
  return files;
}

// The same files, and the same bytes in each except the videos: x264 given the same frames on the writer thread
// and on the main thread encodes them into different (equally valid) bitstreams, so an mp4 is only checked to
// be there and not empty.
TEST(BackgroundWriter, DemoOutputsMatchTheInlineWrites) {
  const fs::path base = fs::temp_directory_path() / ("wma_background_" + std::to_string(::getpid()));
  fs::remove_all(base);
  const char* bin = std::getenv("WMA_BINARY");
  std::map<std::string, std::string> outputs[2];
  for (const int threaded : {0, 1}) {
    const fs::path dir = base / std::to_string(threaded);
    const std::string cmd = "WMA_BACKGROUND_WRITES=" + std::to_string(threaded) + " " + (bin ? bin : "wma") +
                            " demo --ddim_steps 1 --n_iter 2 --quiet --savedir " + dir.string() + " > /dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    outputs[threaded] = files_under(dir);
  }
  EXPECT_GE(outputs[0].size(), 20u) << "videos, records and plots of two iterations";
  ASSERT_EQ(outputs[0].size(), outputs[1].size());
  for (const auto& [name, bytes] : outputs[0]) {
    ASSERT_TRUE(outputs[1].count(name)) << name << " missing from the background run";
    if (fs::path(name).extension() == ".mp4") EXPECT_FALSE(outputs[1][name].empty()) << name;
    else EXPECT_TRUE(outputs[1][name] == bytes) << name << " differs";
  }
  fs::remove_all(base);
}

}  // namespace
}  // namespace wma::pipeline
