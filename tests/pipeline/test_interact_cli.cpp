// `wma interact` on bad input (app/cmd_interact.cpp): the start-up line first, then a clear error and no output
// folder for a missing dataset, a wrong image size, an .h5 without upstream's datasets and a checkpoint that does
// not match the config; plus the PNG reader and min-max stats (io/png_read.h, io/stats.h) on upstream's example data.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#if WMA_WITH_HDF5 && __has_include(<hdf5/serial/hdf5.h>)
#include <hdf5/serial/hdf5.h>
#define WMA_TEST_WRITES_H5 1
#endif

#include "io/png_read.h"
#include "io/stats.h"
#include "pipeline/example_data.h"
#include "pipeline_test_util.h"

namespace wma::pipeline {
namespace {
namespace fs = std::filesystem;

struct RunResult {
  int rc;
  std::string err;
};

RunResult run_interact(const std::string& args) {
  const char* bin = std::getenv("WMA_BINARY");
  const fs::path log = fs::temp_directory_path() / ("wma_cli_" + std::to_string(::getpid()) + ".log");
  const std::string cmd = std::string(bin ? bin : "wma") + " interact " + args + " --quiet --clip_vocab " +
                          test::demo_vocab_file().string() + " > /dev/null 2> " + log.string();
  const int rc = std::system(cmd.c_str());
  std::ifstream f(log);
  std::string err((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  fs::remove(log);
  return {rc, err};
}

// Flags of a valid tiny run; each test breaks one thing.
std::string base_args(const fs::path& prompt_dir, const fs::path& savedir, const std::string& extra) {
  return "--config " + test::tiny_yaml().string() + " --prompt_dir " + prompt_dir.string() +
         " --dataset unitree_z1_stackbox --savedir " + savedir.string() +
         " --ddim_steps 1 --n_iter 1 --frame_stride 4 --timestep_spacing uniform_trailing " + extra;
}

class InteractCli : public ::testing::Test {
 protected:
  void SetUp() override {
    WMA_REQUIRE_UPSTREAM(test::prompts_dir() / "unitree_z1_stackbox.csv", "examples/world_model_interaction_prompts");
    savedir_ = fs::temp_directory_path() / ("wma_cli_out_" + std::to_string(::getpid()));
    fs::remove_all(savedir_);
  }
  void TearDown() override { fs::remove_all(savedir_); }
  void expect_error(const RunResult& r, const std::string& needle) {
    EXPECT_NE(r.rc, 0);
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(savedir_)) << "output written despite the error";
  }
  fs::path savedir_;
};

TEST_F(InteractCli, MissingDataset) {
  std::string args = base_args(test::prompts_dir(), savedir_, "--height 64 --width 64 --demo_weights");
  args.replace(args.find("unitree_z1_stackbox"), std::string("unitree_z1_stackbox").size(), "no_such_set");
  expect_error(run_interact(args), "no_such_set.csv does not exist");
}

// The start-up line comes first, before any input is read (here the dataset is missing): the device and the
// precision chosen without --device/--precision, CUDA in fp16 where a GPU is usable, else the CPU in fp32.
TEST_F(InteractCli, FirstLineNamesDeviceAndPrecision) {
  std::string args = base_args(test::prompts_dir(), savedir_, "--height 64 --width 64 --demo_weights");
  args.replace(args.find("unitree_z1_stackbox"), std::string("unitree_z1_stackbox").size(), "no_such_set");
  const RunResult r = run_interact(args);
  const std::string first = r.err.substr(0, r.err.find('\n'));
  const bool cpu = first.rfind("wma interact: cpu, fp32; build: ", 0) == 0;
  const bool cuda = first.rfind("wma interact: cuda (", 0) == 0 && first.find("), fp16; build: ") != std::string::npos;
  EXPECT_TRUE(cpu || cuda) << r.err;
}

TEST_F(InteractCli, WrongImageSize) {
  expect_error(run_interact(base_args(test::prompts_dir(), savedir_, "--height 320 --width 512 --demo_weights")),
               "do not match the model");
  expect_error(run_interact(base_args(test::prompts_dir(), savedir_, "--height 60 --width 64 --demo_weights")),
               "multiples of 16");
}

TEST_F(InteractCli, CheckpointNotMatchingConfig) {
  // The run reads the example transitions (.h5) before the checkpoint.
  const fs::path ckpt = test::source_dir() / "tests/fixtures/vae.safetensors";
  expect_error(run_interact(
                   base_args(test::prompts_dir(), savedir_, "--height 64 --width 64 --ckpt_path " + ckpt.string())),
               "does not match the config");
  expect_error(run_interact(base_args(test::prompts_dir(), savedir_, "--height 64 --width 64")), "--demo_weights");
}

#ifdef WMA_TEST_WRITES_H5
// A copy of the example set whose .h5 holds only `observation.state`.
TEST_F(InteractCli, TransitionsWithoutActions) {
  const fs::path dir = fs::temp_directory_path() / ("wma_cli_prompts_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "transitions/unitree_z1_stackbox");
  fs::copy(test::prompts_dir() / "unitree_z1_stackbox.csv", dir);
  fs::copy(test::prompts_dir() / "images", dir / "images", fs::copy_options::recursive);
  fs::copy(test::prompts_dir() / "transitions/unitree_z1_stackbox/meta_data",
           dir / "transitions/unitree_z1_stackbox/meta_data", fs::copy_options::recursive);
  {
    const hid_t file =
        H5Fcreate((dir / "transitions/unitree_z1_stackbox/0.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[2] = {4, 7};
    const hid_t space = H5Screate_simple(2, dims, nullptr);
    const hid_t set =
        H5Dcreate2(file, "observation.state", H5T_NATIVE_FLOAT, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const float zeros[28] = {};
    H5Dwrite(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros);
    H5Dclose(set);
    H5Sclose(space);
    H5Fclose(file);
  }
  expect_error(run_interact(base_args(dir, savedir_, "--height 64 --width 64 --demo_weights")), "no dataset 'action'");
  fs::remove_all(dir);
}
#endif

TEST(ExampleData, PngReaderAndStats) {
  const fs::path png = test::prompts_dir() / "images/unitree_z1_stackbox/0.png";
  WMA_REQUIRE_UPSTREAM(png, "examples/world_model_interaction_prompts");
  const io::Rgb8Image image = io::read_png(png.string());
  EXPECT_EQ(image.width, 640);
  EXPECT_EQ(image.height, 480);
  // Round trip through our writer (stored deflate blocks) and reader.
  const fs::path copy = fs::temp_directory_path() / ("wma_png_" + std::to_string(::getpid()) + ".png");
  io::write_png(copy.string(), image);
  EXPECT_EQ(io::read_png(copy.string()).pixels, image.pixels);
  fs::remove(copy);
  EXPECT_THROW(io::read_png((test::prompts_dir() / "unitree_z1_stackbox.csv").string()), Error);

  const io::NormalizationStats stats = read_dataset_stats(test::prompts_dir().string(), "unitree_z1_stackbox");
  const io::MinMax& s = stats.at("observation.state");
  ASSERT_EQ(s.min.size(), 7u);
  const std::vector<float> y = io::normalize_min_max(s.min, s);
  for (float v : y) EXPECT_FLOAT_EQ(v, -1.0f);
  const std::vector<float> back = io::unnormalize_min_max(io::normalize_min_max(s.max, s), s);
  for (std::size_t i = 0; i < back.size(); ++i) EXPECT_NEAR(back[i], s.max[i], 1e-5 * (1 + std::fabs(s.max[i])));
}

}  // namespace
}  // namespace wma::pipeline
