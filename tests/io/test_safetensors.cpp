// safetensors writer/reader round trips and refusal of inconsistent headers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/safetensors.h"
#include "io_test_util.h"

namespace wma::io {
namespace {

using testing::data_path;
using testing::temp_dir;

void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f << bytes;
}

std::string with_header(const std::string& header, std::size_t data_bytes) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((static_cast<std::uint64_t>(header.size()) >> (8 * i)) & 0xff);
  return out + header + std::string(data_bytes, '\0');
}

std::string error_of(const std::string& path) {
  try {
    SafetensorsSource s(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Safetensors, WriterReaderRoundTrip) {
  const auto dir = temp_dir("st");
  const std::string path = (dir / "t.safetensors").string();
  const Tensor f32 = Tensor::from_floats({2, 3}, {1.5f, -2.0f, 3.25f, 0.0f, 1e-20f, -7.0f});
  const Tensor transposed = f32.transpose(0, 1);  // written contiguously in logical order
  Tensor f16 = Tensor::empty({3}, DType::F16);
  Tensor bf16 = Tensor::empty({3}, DType::BF16);
  const float src[3] = {0.1f, -65504.0f, 3.0f};
  for (int i = 0; i < 3; ++i) {
    f16.data<std::uint16_t>()[i] = float_to_half(src[i]);
    bf16.data<std::uint16_t>()[i] = float_to_bf16(src[i]);
  }
  const Tensor i64 = Tensor::from_ints({2, 2}, {1, -2, 1LL << 40, 4});
  const Tensor i32 = Tensor::from_ints({1}, {-5}, DType::I32);
  const Tensor scalar = Tensor::from_floats({}, {42.0f});
  const Tensor empty = Tensor::zeros({0, 4});
  {
    SafetensorsWriter w(path);
    w.set_metadata("format", "pt");
    w.add("f32", f32);
    w.add("transposed", transposed);
    w.add("f16", f16);
    w.add("bf16", bf16);
    w.add("i64", i64);
    w.add("i32", i32);
    w.add("scalar", scalar);
    w.add("empty", empty);
    w.add("made", DType::F32, {2}, [] { return Tensor::from_floats({2}, {7.0f, 8.0f}); });
    w.finish();
  }
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  SafetensorsSource s(path);
  const std::string raw = testing::read_text(path);
  std::uint64_t header_len = 0;
  std::memcpy(&header_len, raw.data(), 8);
  EXPECT_EQ((8 + header_len) % 8, 0u);
  ASSERT_EQ(s.tensors().size(), 9u);
  EXPECT_EQ(s.tensors()[1].name, "transposed");
  EXPECT_EQ(s.load("f32").to_floats(), f32.to_floats());
  EXPECT_EQ(s.load("transposed").shape(), (Shape{3, 2}));
  EXPECT_EQ(s.load("transposed").to_floats(), transposed.to_floats());
  EXPECT_EQ(s.load("f16").dtype(), DType::F16);
  EXPECT_EQ(s.load("f16").to_floats(), f16.to_floats());
  EXPECT_EQ(s.load("bf16").to_floats(), bf16.to_floats());
  EXPECT_EQ(s.load("i64").to_ints(), i64.to_ints());
  EXPECT_EQ(s.load("i32").dtype(), DType::I32);
  EXPECT_EQ(s.load("i32").to_ints(), (std::vector<std::int64_t>{-5}));
  EXPECT_EQ(s.load("scalar").shape(), Shape{});
  EXPECT_EQ(s.load("scalar").item(), 42.0f);
  EXPECT_EQ(s.load("empty").numel(), 0);
  EXPECT_EQ(s.load("made").to_floats(), (std::vector<float>{7.0f, 8.0f}));
  ASSERT_EQ(s.metadata().size(), 1u);
  EXPECT_EQ(s.metadata()[0].second.as_string(), "pt");
  try {
    s.load("nope");
    ADD_FAILURE() << "missing tensor loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos);
  }
}

TEST(Safetensors, LoadedTensorsOutliveTheSource) {
  const auto dir = temp_dir("st");
  const std::string path = (dir / "t.safetensors").string();
  SafetensorsWriter w(path);
  w.add("x", Tensor::from_floats({3}, {1, 2, 3}));
  w.finish();
  Tensor t;
  {
    SafetensorsSource s(path);
    t = s.load("x");
  }
  EXPECT_EQ(t.to_floats(), (std::vector<float>{1, 2, 3}));
  t.data<float>()[0] = 9.0f;  // private mapping: writes stay in memory
  EXPECT_EQ(SafetensorsSource(path).load("x").to_floats()[0], 1.0f);
}

TEST(Safetensors, ReadsWidenedTypes) {
  const auto dir = temp_dir("st");
  const auto path = dir / "w.safetensors";
  std::string header =
      R"({"d":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"b":{"dtype":"BOOL","shape":[2],"data_offsets":[16,18]},)"
      R"("s":{"dtype":"I16","shape":[1],"data_offsets":[18,20]}})";
  std::string file = with_header(header, 0);
  const double d[2] = {0.5, -1e300};
  file.append(reinterpret_cast<const char*>(d), 16);
  file += std::string("\x01\x00", 2);
  const std::int16_t s16 = -300;
  file.append(reinterpret_cast<const char*>(&s16), 2);
  write_bytes(path, file);
  SafetensorsSource s(path.string());
  EXPECT_EQ(s.load("d").dtype(), DType::F32);
  EXPECT_EQ(s.load("d").to_floats()[0], 0.5f);
  EXPECT_TRUE(std::isinf(s.load("d").to_floats()[1]));
  EXPECT_EQ(s.load("b").to_ints(), (std::vector<std::int64_t>{1, 0}));
  EXPECT_EQ(s.load("s").to_ints(), (std::vector<std::int64_t>{-300}));
}

TEST(Safetensors, RefusesBadHeaders) {
  const auto dir = temp_dir("st");
  struct Case {
    std::string header;
    std::size_t data;
    std::string problem;
  };
  const Case cases[] = {
      {R"({"w":{"dtype":"F32","shape":[3,2],"data_offsets":[0,16]}})", 16, "header lies about sizes"},
      {R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8, "outside the data block"},
      {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8, "increasing"},
      {R"({"w":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]}})", 1, "unsupported dtype"},
      {R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4, "negative"},
      {R"({"w":{"dtype":"F32","shape":[1]}})", 4, "data_offsets"},
      {R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}})", 4, "too large"},
      // 2^62 elements of 8 bytes wrap to 0 bytes, which the empty range would match.
      {R"({"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0, "too large"},
      {R"({"w":[1]})", 0, "not an object"},
      {R"([1,2])", 0, "not a JSON object"},
      {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4])", 4, "not valid JSON"},
      {R"({"__metadata__":{"a":1}})", 0, "__metadata__"},
  };
  for (const auto& c : cases) {
    const auto path = dir / "bad.safetensors";
    write_bytes(path, with_header(c.header, c.data));
    const std::string msg = error_of(path.string());
    EXPECT_NE(msg.find(c.problem), std::string::npos) << c.header << " -> " << msg;
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
  }
  // Header length past the end of the file, and a file too short to hold one.
  write_bytes(dir / "long.safetensors", std::string("\xff\x00\x00\x00\x00\x00\x00\x00{}", 10));
  EXPECT_NE(error_of((dir / "long.safetensors").string()).find("runs past the end"), std::string::npos);
  write_bytes(dir / "tiny.safetensors", "abc");
  EXPECT_NE(error_of((dir / "tiny.safetensors").string()).find("too short"), std::string::npos);
}

TEST(Safetensors, CommittedBadFilesAreRefused) {
  EXPECT_NE(error_of(data_path("lying_header.safetensors")).find("header lies about sizes"), std::string::npos);
  EXPECT_NE(error_of(data_path("offsets_outside.safetensors")).find("outside"), std::string::npos);
  EXPECT_NE(error_of(data_path("bad_json.safetensors")).find("not valid JSON"), std::string::npos);
}

TEST(Safetensors, FailedWriteLeavesNoFile) {
  const auto dir = temp_dir("st");
  const std::string path = (dir / "out.safetensors").string();
  {
    SafetensorsWriter w(path);
    w.add("a", Tensor::from_floats({1}, {1}));
    w.add("b", DType::F32, {2}, []() -> Tensor { throw Error("producer failed"); });
    EXPECT_THROW(w.finish(), Error);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  {
    SafetensorsWriter w(path);
    w.add("a", DType::F32, {3}, [] { return Tensor::from_floats({2}, {1, 2}); });
    EXPECT_THROW(w.finish(), Error);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  SafetensorsWriter w(path);
  w.add("a", Tensor::from_floats({1}, {1}));
  EXPECT_THROW(w.add("a", Tensor::from_floats({1}, {1})), Error);
}

}  // namespace
}  // namespace wma::io
