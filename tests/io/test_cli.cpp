// `wma inspect` and `wma convert` run as a user would: output checked against torch's listings,
// bad files refused with one line on stderr, and .ckpt -> safetensors round trips per dtype.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "core/dtype.h"
#include "io/safetensors.h"
#include "io/weight_store.h"
#include "io_test_util.h"

namespace wma::io {
namespace {

using testing::data_path;
using testing::read_listing;
using testing::run_wma;
using testing::temp_dir;

std::string compact(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

TEST(Cli, InspectPrintsTorchListing) {
  const auto dir = temp_dir("cli");
  for (const char* name : {"lightning", "deepspeed", "nested"}) {
    SCOPED_TRACE(name);
    const auto expected = read_listing(name);
    const auto r = run_wma("inspect '" + data_path(std::string(name) + ".ckpt") + "' --values 1000", dir);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    std::istringstream out(r.out);
    std::string line;
    std::size_t row = 0;
    std::int64_t params = 0;
    std::int64_t bytes = 0;
    bool saw_total = false;
    while (std::getline(out, line)) {
      if (line.rfind("# ", 0) == 0) continue;
      std::istringstream words(line);
      if (line.rfind("total:", 0) == 0) {
        std::ostringstream want;
        want << "total: " << expected.size() << " tensors, " << params << " params, " << bytes << " bytes";
        EXPECT_EQ(line, want.str());
        saw_total = true;
        continue;
      }
      ASSERT_LT(row, expected.size()) << line;
      const auto& want = expected[row++];
      std::string got_name, got_dtype, got_shape, values_tag;
      std::int64_t got_bytes = 0;
      words >> got_name >> got_dtype >> got_shape >> got_bytes;
      EXPECT_EQ(got_name, want.name);
      EXPECT_EQ(got_dtype, want.dtype);
      EXPECT_EQ(got_shape, compact(want.shape));
      const std::int64_t numel = shape_numel(want.shape);
      const std::int64_t elem = want.dtype == "i64" ? 8 : want.dtype == "f32" || want.dtype == "i32" ? 4 : 2;
      EXPECT_EQ(got_bytes, numel * elem);
      params += numel;
      bytes += numel * elem;
      if (numel == 0) continue;
      words >> values_tag;
      EXPECT_EQ(values_tag, "values:");
      std::vector<double> got_values;
      double v = 0;
      while (words >> v) got_values.push_back(v);
      ASSERT_EQ(got_values.size(), want.values.size()) << line;
      for (std::size_t k = 0; k < got_values.size(); ++k)
        EXPECT_EQ(static_cast<float>(got_values[k]), static_cast<float>(want.values[k]))
            << want.name << "[" << k << "]";
    }
    EXPECT_EQ(row, expected.size());
    EXPECT_TRUE(saw_total);
  }
}

TEST(Cli, InspectRefusesBadFilesWithOneLine) {
  const auto dir = temp_dir("cli");
  for (const char* file : {"malicious.ckpt", "short_storage.ckpt", "truncated.ckpt", "compressed.ckpt",
                           "lying_header.safetensors", "offsets_outside.safetensors", "bad_json.safetensors"}) {
    const auto r = run_wma("inspect '" + data_path(file) + "'", dir);
    EXPECT_NE(r.exit_code, 0) << file;
    EXPECT_EQ(r.out.find("total:"), std::string::npos) << file;
    ASSERT_FALSE(r.err.empty()) << file;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << file << ": " << r.err;
    EXPECT_NE(r.err.find(data_path(file)), std::string::npos) << r.err;
  }
  const auto missing = run_wma("inspect '" + (dir / "nope.ckpt").string() + "'", dir);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("nope.ckpt"), std::string::npos);
  EXPECT_NE(run_wma("inspect", dir).exit_code, 0);
  EXPECT_NE(run_wma("inspect '" + data_path("nested.ckpt") + "' --values x", dir).exit_code, 0);
}

float rounded(float v, DType dtype) {
  switch (dtype) {
    case DType::F16: return half_to_float(float_to_half(v));
    case DType::BF16: return bf16_to_float(float_to_bf16(v));
    default: return v;
  }
}

TEST(Cli, ConvertRoundTripsEveryDtype) {
  const auto dir = temp_dir("cli");
  const WeightStore original = WeightStore::open(data_path("lightning.ckpt"));
  const std::pair<const char*, DType> targets[] = {{"fp32", DType::F32}, {"fp16", DType::F16}, {"bf16", DType::BF16}};
  for (const auto& [flag, dtype] : targets) {
    SCOPED_TRACE(flag);
    const std::string out = (dir / (std::string(flag) + ".safetensors")).string();
    const auto r = run_wma("convert '" + data_path("lightning.ckpt") + "' '" + out + "' --dtype " + flag, dir);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
    const WeightStore converted = WeightStore::open(out);
    EXPECT_EQ(converted.source().format(), "safetensors");
    ASSERT_EQ(converted.keys(), original.keys());  // quirks applied: fps_embedding, not framestride_embed
    for (const auto& key : original.keys()) {
      SCOPED_TRACE(key);
      const Tensor a = original.load(key);
      const Tensor b = converted.load(key);
      EXPECT_EQ(b.shape(), a.shape());
      if (!dtype_is_float(a.dtype())) {
        EXPECT_EQ(b.dtype(), a.dtype());
        EXPECT_EQ(b.to_ints(), a.to_ints());
        continue;
      }
      EXPECT_EQ(b.dtype(), dtype);
      const auto va = a.to_floats();
      const auto vb = b.to_floats();
      ASSERT_EQ(va.size(), vb.size());
      for (std::size_t i = 0; i < va.size(); ++i) EXPECT_EQ(vb[i], rounded(va[i], dtype)) << i;
    }
  }
  // The default is bf16, and a failed conversion leaves nothing behind.
  const std::string def = (dir / "default.safetensors").string();
  ASSERT_EQ(run_wma("convert '" + data_path("deepspeed.ckpt") + "' '" + def + "'", dir).exit_code, 0);
  const WeightStore ds = WeightStore::open(def);
  EXPECT_EQ(ds.find("model.diffusion_model.out.2.weight")->dtype, DType::BF16);
  const std::string bad = (dir / "bad.safetensors").string();
  const auto r = run_wma("convert '" + data_path("short_storage.ckpt") + "' '" + bad + "'", dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("storage too short"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(bad));
  EXPECT_FALSE(std::filesystem::exists(bad + ".tmp"));
  EXPECT_NE(run_wma("convert '" + data_path("nested.ckpt") + "' '" + bad + "' --dtype fp8", dir).exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(bad));
}

}  // namespace
}  // namespace wma::io
