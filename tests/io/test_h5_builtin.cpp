// The built-in HDF5 reader (io/h5_builtin.h) on tests/data/h5/classic.h5 (tools/make_h5_fixture.py, h5py's default
// format), on upstream's transition files where present, against libhdf5 where the build has it, and on damaged
// copies of the fixture.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/h5.h"
#include "io/h5_builtin.h"
#include "io/mapped_file.h"
#include "util/test_data.h"

namespace wma::io {
namespace {

std::string fixture() {
  const char* s = std::getenv("WMA_SOURCE_DIR");
  return std::string(s != nullptr ? s : ".") + "/tests/data/h5/classic.h5";
}

const MappedFile& classic() {
  static const std::shared_ptr<MappedFile> f = MappedFile::open(fixture());
  return *f;
}

// The generator's values: element i of a flattened dataset is (i % 17) * 0.5 - 3.
std::vector<float> generated(std::int64_t n) {
  std::vector<float> v;
  for (std::int64_t i = 0; i < n; ++i) v.push_back(static_cast<float>(i % 17) * 0.5f - 3.0f);
  return v;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(H5Builtin, NumericDatasetsOfEveryStoredType) {
  using h5_builtin::read_dataset;
  const Tensor action = read_dataset(classic(), "action");
  EXPECT_EQ(action.shape(), (Shape{5, 3}));
  EXPECT_EQ(action.to_floats(), generated(15));
  EXPECT_EQ(read_dataset(classic(), "observation.state").to_floats(), generated(15)) << "float64";
  EXPECT_EQ(read_dataset(classic(), "big_endian_double").to_floats(), generated(3));
  EXPECT_EQ(read_dataset(classic(), "compact").to_floats(), generated(4)) << "compact layout";
  EXPECT_EQ(read_dataset(classic(), "inner/x").to_floats(), generated(4)) << "a dataset inside a group";
  EXPECT_EQ(read_dataset(classic(), "/inner//x").shape(), (Shape{2, 2}));

  const Tensor ints = read_dataset(classic(), "int16");
  EXPECT_EQ(ints.shape(), (Shape{2, 3, 4}));
  std::vector<float> want;
  for (int i = 0; i < 24; ++i) want.push_back(static_cast<float>(i - 12));
  EXPECT_EQ(ints.to_floats(), want);
  EXPECT_EQ(read_dataset(classic(), "uint8").to_floats(), (std::vector<float>{0, 40, 80, 120, 160, 200, 240}));
  EXPECT_EQ(read_dataset(classic(), "big_endian_int").to_floats(), (std::vector<float>{-2, -1, 0, 1}));
  EXPECT_EQ(read_dataset(classic(), "int64").to_floats(),
            (std::vector<float>{-1099511627776.0f, 1099511627776.0f, -1.0f}));

  EXPECT_EQ(read_dataset(classic(), "empty").shape(), (Shape{0, 3}));
  const Tensor scalar = read_dataset(classic(), "scalar");
  EXPECT_EQ(scalar.dim(), 0);
  EXPECT_EQ(scalar.to_floats(), (std::vector<float>{2.5f}));
}

TEST(H5Builtin, MembersAcrossSymbolNodes) {
  const std::vector<std::string> names = h5_builtin::list_datasets(classic());
  EXPECT_EQ(names.size(), 35u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end())) << "the group's B-tree keeps names in order";
  for (int i = 0; i < 20; ++i) {
    char name[8];
    std::snprintf(name, sizeof name, "d%02d", i);
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
    EXPECT_EQ(h5_builtin::read_dataset(classic(), name).to_floats(), (std::vector<float>{static_cast<float>(i)}));
  }
}

TEST(H5Builtin, StringAttributes) {
  using h5_builtin::read_string_attribute;
  EXPECT_EQ(read_string_attribute(classic(), "robot_type"), "Test Arm \xc3\xbc") << "variable-length UTF-8";
  EXPECT_EQ(read_string_attribute(classic(), "action_type"), "joint position");
  EXPECT_EQ(read_string_attribute(classic(), "fixed"), "fixed value") << "fixed-length";
  EXPECT_EQ(read_string_attribute(classic(), "absent"), "");
  EXPECT_EQ(read_string_attribute(classic(), "empty_text"), "") << "a zero-length variable-length string";
  EXPECT_NE(error_of([] { read_string_attribute(classic(), "count"); }).find("attribute 'count' is not a string"),
            std::string::npos);
}

TEST(H5Builtin, WhatItDoesNotReadIsNamed) {
  using h5_builtin::read_dataset;
  const auto expect = [](const std::string& dataset, const std::string& message) {
    const std::string e = error_of([&] { read_dataset(classic(), dataset); });
    EXPECT_NE(e.find(message), std::string::npos) << e;
    EXPECT_NE(e.find("classic.h5"), std::string::npos) << e;
  };
  expect("chunked", "dataset 'chunked' is stored in chunks");
  expect("gzip", "dataset 'gzip' is compressed or filtered");
  expect("text", "dataset 'text' is not numeric");
  expect("inner", "'inner' is not a dataset");
  expect("observation.images", "no dataset 'observation.images'");
  expect("inner/y", "no dataset 'inner/y'");
  expect("inner/x/y", "'inner/x' is a dataset, not a group");
  const auto text = MappedFile::from_bytes("notes.txt", {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'});
  EXPECT_NE(error_of([&] { h5_builtin::list_datasets(*text); }).find("notes.txt: not an HDF5 file"), std::string::npos);
}

std::vector<std::uint8_t> fixture_bytes() { return {classic().data(), classic().data() + classic().size()}; }

std::size_t find_bytes(const std::vector<std::uint8_t>& b, const std::string& what, std::size_t from = 0) {
  const auto it = std::search(b.begin() + static_cast<std::ptrdiff_t>(from), b.end(), what.begin(), what.end());
  return it == b.end() ? std::string::npos : static_cast<std::size_t>(it - b.begin());
}

// Hostile edits of the fixture that its structure checks alone would let through.
TEST(H5Builtin, HostileEditsAreRefused) {
  // Every member of every group renamed to the root heap's longest name: names repeated past the heap's size,
  // which would otherwise let a small file make the reader copy one long name 65536 times.
  std::vector<std::uint8_t> b = fixture_bytes();
  const std::size_t heap = find_bytes(b, "HEAP");  // the root group's local heap comes first in this file
  ASSERT_NE(heap, std::string::npos);
  std::uint64_t heap_data = 0;
  std::memcpy(&heap_data, &b[heap + 24], 8);
  const std::size_t name = find_bytes(b, std::string("observation.state") + '\0');
  ASSERT_NE(name, std::string::npos);
  const std::uint64_t offset = name - heap_data;
  for (std::size_t snod = find_bytes(b, "SNOD"); snod != std::string::npos; snod = find_bytes(b, "SNOD", snod + 1)) {
    const int symbols = b[snod + 6] | b[snod + 7] << 8;
    for (int i = 0; i < symbols; ++i) std::memcpy(&b[snod + 8 + 40 * static_cast<std::size_t>(i)], &offset, 8);
  }
  const auto renamed = MappedFile::from_bytes("renamed.h5", b);
  EXPECT_NE(error_of([&] { h5_builtin::list_datasets(*renamed); }).find("member names overrun their heap"),
            std::string::npos);

  // An empty [0, 2, 3] dataset whose other dimensions become 2^62: no bytes to read, but its strides would overflow.
  b = fixture_bytes();
  const std::uint64_t dims[3] = {0, 2, 3}, huge = std::uint64_t{1} << 62;
  const std::size_t at = find_bytes(b, std::string(reinterpret_cast<const char*>(dims), sizeof dims));
  ASSERT_NE(at, std::string::npos);
  std::memcpy(&b[at + 8], &huge, 8);
  std::memcpy(&b[at + 16], &huge, 8);
  const auto enlarged = MappedFile::from_bytes("enlarged.h5", b);
  EXPECT_NE(error_of([&] { h5_builtin::read_dataset(*enlarged, "empty3"); }).find("dimensions overflow"),
            std::string::npos);
  EXPECT_EQ(h5_builtin::read_dataset(classic(), "empty3").shape(), (Shape{0, 2, 3}));
}

// Every prefix and a few thousand random corruptions of the fixture end in a result or an Error (the sanitizer
// build checks that no read leaves the buffer).
TEST(H5Builtin, DamagedFilesFailCleanly) {
  const std::vector<std::uint8_t> bytes(classic().data(), classic().data() + classic().size());
  auto exercise = [](const std::vector<std::uint8_t>& b) {
    const auto f = MappedFile::from_bytes("damaged.h5", b);
    for (const char* name : {"action", "compact", "inner/x", "int16", "d07"}) {
      try {
        h5_builtin::read_dataset(*f, name);
      } catch (const Error&) {
      }
    }
    try {
      h5_builtin::read_string_attribute(*f, "robot_type");
      h5_builtin::list_datasets(*f);
    } catch (const Error&) {
    }
  };
  int truncated_errors = 0;
  for (std::size_t n = 0; n < bytes.size(); n += 97) {
    const std::vector<std::uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    exercise(prefix);
    try {
      h5_builtin::read_dataset(*MappedFile::from_bytes("prefix.h5", prefix), "action");
    } catch (const Error&) {
      ++truncated_errors;
    }
  }
  EXPECT_GT(truncated_errors, 0);
  std::mt19937 rng(7);
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<std::uint8_t> b = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
    exercise(b);
  }
}

TEST(H5Builtin, UpstreamTransitions) {
  const std::filesystem::path transitions = test_data::interaction_prompts() / "transitions";
  if (!test_data::present(transitions)) GTEST_SKIP() << "upstream's example data is not here: " << transitions;
  const auto f = MappedFile::open((transitions / "unitree_z1_stackbox/0.h5").string());
  const Tensor action = h5_builtin::read_dataset(*f, "action");
  EXPECT_EQ(action.shape(), (Shape{736, 7}));
  EXPECT_FLOAT_EQ(action.to_floats()[1], 1.4776837f);
  EXPECT_EQ(h5_builtin::read_dataset(*f, "observation.state").shape(), (Shape{736, 7}));
  EXPECT_EQ(h5_builtin::read_string_attribute(*f, "robot_type"), "Unitree Z1 Robot Arm");
  EXPECT_EQ(h5_builtin::list_datasets(*f), (std::vector<std::string>{"action", "observation.state"}));
}

// Where the build has libhdf5, both readers agree on every dataset and attribute they both read.
TEST(H5Builtin, AgreesWithLibhdf5) {
  if (!hdf5_available()) GTEST_SKIP() << "this build has no libhdf5";
  std::vector<std::string> files = {fixture()};
  const std::filesystem::path transitions = test_data::interaction_prompts() / "transitions";
  if (test_data::present(transitions))
    for (const auto& entry : std::filesystem::recursive_directory_iterator(transitions))
      if (entry.path().extension() == ".h5") files.push_back(entry.path().string());
  for (const std::string& path : files) {
    const auto f = MappedFile::open(path);
    EXPECT_EQ(h5_builtin::list_datasets(*f), list_h5_datasets(path)) << path;
    for (const std::string& name : list_h5_datasets(path)) {
      Tensor ours, theirs;
      try {
        theirs = read_h5_dataset(path, name);
      } catch (const Error&) {
        continue;  // not numeric, or a group
      }
      try {
        ours = h5_builtin::read_dataset(*f, name);
      } catch (const Error& e) {
        if (name == "chunked" || name == "gzip") continue;  // what the built-in reader refuses by design
        ADD_FAILURE() << path << " " << name << ": " << e.what();
        continue;
      }
      EXPECT_EQ(ours.shape(), theirs.shape()) << path << " " << name;
      EXPECT_EQ(ours.to_floats(), theirs.to_floats()) << path << " " << name;
    }
    for (const char* attribute : {"robot_type", "action_type", "state_type", "fixed"})
      EXPECT_EQ(h5_builtin::read_string_attribute(*f, attribute), read_h5_string_attribute(path, attribute))
          << path << " " << attribute;
  }
}

}  // namespace
}  // namespace wma::io
