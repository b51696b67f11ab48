// Example data crafted to escape --savedir or to carry NaN/Inf (issue 20): refused at load time, naming the
// file, the row and the value, instead of writing elsewhere or failing after a whole pass.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#if WMA_WITH_HDF5 && __has_include(<hdf5/serial/hdf5.h>)
#include <hdf5/serial/hdf5.h>
#define WMA_TEST_WRITES_H5 1
#endif

#include "core/error.h"
#include "core/tensor.h"
#include "io/safetensors.h"
#include "io/stats.h"
#include "pipeline/example_data.h"

namespace wma::pipeline {
namespace {
namespace fs = std::filesystem;

class HostileData : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("wma_hostile_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // `<dir>/set.csv` with upstream's columns that read_prompt_list uses.
  std::string write_prompt_csv(const std::string& videoid, const std::string& fps) {
    const fs::path csv = dir_ / "set.csv";
    std::ofstream(csv) << "videoid,data_dir,instruction,fps\n\"" << videoid << "\",set,pick it up," << fps << "\n";
    return csv.string();
  }

  // `<dir>/prompts.csv` with one row of generation numbers, read as `wma generate` does.
  std::string generation_prompts_error(const std::string& fps, const std::string& fs, const std::string& num_gen) {
    std::ofstream(dir_ / "prompts.csv") << "videoid,instruction,fps,fs,num_gen\n1,go," << fps << "," << fs << ","
                                        << num_gen << "\n";
    try {
      read_generation_prompts(dir_.string(), (dir_ / "out").string());
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  std::string prompt_list_error() {
    try {
      read_prompt_list(dir_.string(), "set");
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

TEST_F(HostileData, VideoidsThatLeaveTheSavedirAreRefused) {
  for (const std::string id : std::vector<std::string>{"../../x", "a/b", "a\\b", "/abs", ".", "..", "", "a\x01z"}) {
    const std::string csv = write_prompt_csv(id, "30");
    const std::string msg = prompt_list_error();
    SCOPED_TRACE(id);
    EXPECT_NE(msg.find(csv + " row 1: videoid '"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cannot name an output file"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\x01'), std::string::npos) << "control characters are escaped";
  }
  EXPECT_NE(prompt_list_error().find("videoid 'a\\x01z'"), std::string::npos);
  // A plain id gets past the check, to the missing image.
  write_prompt_csv("ep.7-a", "30");
  EXPECT_NE(prompt_list_error().find("ep.7-a.png, which does not exist"), std::string::npos) << prompt_list_error();
}

TEST_F(HostileData, NonFiniteFpsIsRefused) {
  for (const std::string fps : {"nan", "inf", "-inf", "1e300", "-1"}) {
    const std::string csv = write_prompt_csv("0", fps);
    const std::string msg = prompt_list_error();
    EXPECT_NE(msg.find(csv + " row 1: fps '" + fps + "' is not a finite frame rate"), std::string::npos) << msg;
  }
}

TEST_F(HostileData, NonFiniteGenerationNumbersAreRefused) {
  std::ofstream(dir_ / "1.png") << "never decoded";
  for (const std::string column : {"fps", "fs", "num_gen"}) {
    const std::string msg = generation_prompts_error(column == "fps" ? "nan" : "30", column == "fs" ? "inf" : "4",
                                                     column == "num_gen" ? "nan" : "1");
    EXPECT_NE(msg.find((dir_ / "prompts.csv").string() + " row 1: " + column), std::string::npos) << msg;
  }
}

// fps / fs feeds an int64 cast: a zero, negative or tiny fs would overflow it.
TEST_F(HostileData, GenerationFrameStrideOutOfRangeIsRefused) {
  std::ofstream(dir_ / "1.png") << "never decoded";
  for (const std::string fs : {"0", "-4", "1e-300"}) {
    const std::string msg = generation_prompts_error("30", fs, "1");
    SCOPED_TRACE(fs);
    EXPECT_NE(msg.find((dir_ / "prompts.csv").string() + " row 1: fps 30 / fs"), std::string::npos) << msg;
  }
}

TEST_F(HostileData, NonFiniteStatsAreRefused) {
  const std::string path = (dir_ / "stats.safetensors").string();
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  io::SafetensorsWriter w(path);
  w.add("action/min", Tensor::from_floats({3}, {0, 0, 0}));
  w.add("action/max", Tensor::from_floats({3}, {1, 1, 1}));
  w.add("observation.state/min", Tensor::from_floats({3}, {0, nan, 0}));
  w.add("observation.state/max", Tensor::from_floats({3}, {1, 1, inf}));
  w.finish();
  std::string msg;
  try {
    io::NormalizationStats::read(path);
  } catch (const Error& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find(path + ": 'observation.state/m"), std::string::npos) << msg;
  EXPECT_NE(msg.find("values must be finite"), std::string::npos) << msg;
}

#ifdef WMA_TEST_WRITES_H5
TEST_F(HostileData, NonFiniteTransitionsAreRefused) {
  const std::string path = (dir_ / "0.h5").string();
  {
    const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t dims[2] = {4, 7};
    const hid_t space = H5Screate_simple(2, dims, nullptr);
    std::vector<float> values(28, 0.0f);
    for (const char* name : {"action", "observation.state"}) {
      values[2 * 7 + 3] = std::string(name) == "action" ? 0.0f : std::numeric_limits<float>::quiet_NaN();
      const hid_t set = H5Dcreate2(file, name, H5T_NATIVE_FLOAT, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      H5Dwrite(set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
      H5Dclose(set);
    }
    H5Sclose(space);
    H5Fclose(file);
  }
  EpisodeSpec spec;
  spec.transition_path = path;
  std::string msg;
  try {
    load_initial_observation(spec, io::NormalizationStats{}, 64, 64, 1, 1, 7, 7);
  } catch (const Error& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find(path + ": 'observation.state'[2, 3] (row, column) is nan"), std::string::npos) << msg;
}
#endif

}  // namespace
}  // namespace wma::pipeline
