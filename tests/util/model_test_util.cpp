#include "util/model_test_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "ops/ops.h"

namespace wma::models::test {

std::filesystem::path source_dir() {
  const char* dir = std::getenv("WMA_SOURCE_DIR");
  return dir ? dir : ".";
}

std::filesystem::path fixture_path(const std::string& file) { return source_dir() / "tests/fixtures" / file; }

io::WeightStore load_fixture(const std::string& file) {
  const std::filesystem::path path = fixture_path(file);
  WMA_CHECK(std::filesystem::exists(path), "[test] fixture ", path.string(),
            " is missing (tools/reference/make_fixtures.py writes it)");
  return io::WeightStore::open(path.string());
}

const io::YamlNode& tiny_yaml() {
  static const io::YamlNode yaml = io::load_yaml(fixture_path("configs/tiny.yaml").string());
  return yaml;
}

const ObsShapeMeta& tiny_obs() {
  static const ObsShapeMeta obs = [] {
    // shape_meta_path is relative to the repository root, as the fixture generator ran.
    const std::string meta =
        tiny_yaml()
            .at_path("model.params.wma_config.params.unet_head_config.params.obs_encoder_config.params.shape_meta_path")
            .as_string();
    std::ifstream f(source_dir() / meta);
    WMA_CHECK(f.good(), "[test] cannot read ", (source_dir() / meta).string());
    const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return ObsShapeMeta::from_json(io::json::parse(text));
  }();
  return obs;
}

const WmaConfig& tiny_config() {
  static const WmaConfig config = WmaConfig::from_yaml(tiny_yaml(), tiny_obs());
  return config;
}

io::WeightStore edited_copy(const io::WeightStore& store, const std::string& drop, const std::string& misshape) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("wma_test_models_" + std::to_string(::getpid()) + ".safetensors");
  io::SafetensorsWriter writer(path.string());
  for (const std::string& key : store.keys()) {
    if (key == drop) continue;
    const Tensor t = store.load(key);
    writer.add(key, key == misshape ? Tensor::zeros({t.numel() + 1}) : t);
  }
  writer.finish();
  io::WeightStore edited = io::WeightStore::open(path.string());
  std::filesystem::remove(path);  // the mapping stays valid
  return edited;
}

Tensor channels_last(const Tensor& t) {
  return ops::contiguous(t.dim() == 4 ? t.permute({0, 2, 3, 1}) : t.permute({0, 2, 3, 4, 1}));
}

WmaStepInputs wma_step_inputs(const io::WeightStore& fx) {
  WmaStepInputs in;
  in.xc = channels_last(fx.load("input.x"));
  const std::int64_t c = in.xc.size(-1) / 2;
  in.x = ops::contiguous(in.xc.slice(-1, 0, c));
  in.x_action = fx.load("input.x_action");
  in.x_state = fx.load("input.x_state");
  in.t = fx.load("input.timesteps");
  in.conditioning.context = fx.load("input.context");
  in.conditioning.c_concat = ops::contiguous(in.xc.slice(-1, c, 2 * c));
  in.conditioning.fs = fx.load("input.fs");
  in.conditioning.obs_images = channels_last(fx.load("input.obs_images"));  // [B, C, O, H, W] -> [B, O, H, W, C]
  in.conditioning.obs_state = fx.load("input.obs_state");
  return in;
}

std::map<std::uint32_t, float> recorded_host_sqrt() {
  const io::WeightStore fx = load_fixture("schedules.safetensors");
  const std::vector<float> args = fx.load("dp.host_sqrt.arg").to_floats();
  const std::vector<float> values = fx.load("dp.host_sqrt.value").to_floats();
  EXPECT_EQ(args.size(), values.size());
  std::map<std::uint32_t, float> table;
  for (std::size_t i = 0; i < std::min(args.size(), values.size()); ++i)
    table[std::bit_cast<std::uint32_t>(args[i])] = values[i];
  return table;
}

double relative_error(const Tensor& actual, const Tensor& expected) {
  EXPECT_EQ(actual.shape(), expected.shape());
  if (actual.shape() != expected.shape()) return INFINITY;
  auto host_floats = [](const Tensor& t) {
    const Tensor host = t.device() == Device::CPU ? t : ops::to_device(t, Device::CPU);
    return ops::contiguous(ops::cast(host, DType::F32)).to_floats();
  };
  const std::vector<float> a = host_floats(actual), b = host_floats(expected);
  double diff = 0.0, ref = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    ref = std::max(ref, std::fabs(static_cast<double>(b[i])));
  }
  return diff / std::max(ref, 1e-30);
}

double expect_close(const std::string& tag, const std::string& what, const Tensor& actual, const Tensor& expected,
                    double tolerance) {
  const double err = relative_error(actual, expected);
  std::printf("[%s] %s %s: max rel err %.3g\n", tag.c_str(), what.c_str(), shape_str(expected.shape()).c_str(), err);
  EXPECT_LE(err, tolerance) << tag << " " << what;
  return err;
}

}  // namespace wma::models::test
