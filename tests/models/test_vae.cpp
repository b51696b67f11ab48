// Parity of first_stage_model (models/vae.h) with upstream's AutoencoderKL and LatentDiffusion's
// encode_first_stage / decode_first_stage (tests/fixtures/vae.safetensors, written by
// tools/reference/fixtures_components.py with deterministic weights), plus strict-load errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <unistd.h>

#include "io/safetensors.h"
#include "io/weight_store.h"
#include "io/yaml.h"
#include "models/deterministic_source.h"
#include "models/vae.h"
#include "ops/ops.h"

namespace wma::models {
namespace {

constexpr double kTolerance = 1e-5;

std::filesystem::path source_dir() {
  const char* dir = std::getenv("WMA_SOURCE_DIR");  // set by ctest
  return dir ? dir : ".";
}

// The modules load strictly, so building one against the empty listing store throws once it has
// asked for every key; the listing is complete by then.
io::WeightStore listing_store(const std::function<void(const io::WeightStore&)>& build) {
  return deterministic_store_for([&](const io::WeightStore& s) {
    try {
      build(s);
    } catch (const Error&) {
    }
  });
}

// `first_stage_config.params` (+ model.params.scale_factor) of the tiny fixture yaml.
AutoencoderKLConfig tiny_config() {
  const io::YamlNode yaml = io::load_yaml((source_dir() / "tests/fixtures/configs/tiny.yaml").string());
  const io::YamlNode& params = yaml.at_path("model.params.first_stage_config.params");
  const io::YamlNode& dd = params["ddconfig"];
  auto ints = [](const io::YamlNode& node) {
    std::vector<int> out;
    for (std::int64_t v : node.as_int_list()) out.push_back(static_cast<int>(v));
    return out;
  };
  AutoencoderKLConfig c;
  c.ch = static_cast<int>(dd["ch"].as_int());
  c.ch_mult = ints(dd["ch_mult"]);
  c.num_res_blocks = static_cast<int>(dd["num_res_blocks"].as_int());
  c.attn_resolutions = ints(dd["attn_resolutions"]);
  c.resolution = static_cast<int>(dd["resolution"].as_int());
  c.in_channels = static_cast<int>(dd["in_channels"].as_int());
  c.out_ch = static_cast<int>(dd["out_ch"].as_int());
  c.z_channels = static_cast<int>(dd["z_channels"].as_int());
  c.double_z = dd["double_z"].as_bool();
  c.embed_dim = static_cast<int>(params["embed_dim"].as_int());
  c.scale_factor = yaml.at_path("model.params.scale_factor").as_double();
  return c;
}

io::WeightStore tiny_store(const AutoencoderKLConfig& config) {
  return listing_store([&](const io::WeightStore& s) { AutoencoderKL(s, config); });
}

// max |a - b| / max |b| over all elements.
double relative_error(const Tensor& actual, const Tensor& expected) {
  EXPECT_EQ(actual.shape(), expected.shape());
  if (actual.shape() != expected.shape()) return INFINITY;
  const std::vector<float> a = ops::contiguous(actual).to_floats(), b = ops::contiguous(expected).to_floats();
  double diff = 0.0, ref = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    ref = std::max(ref, std::fabs(static_cast<double>(b[i])));
  }
  return diff / std::max(ref, 1e-30);
}

void expect_match(const char* what, const Tensor& actual, const Tensor& expected) {
  const double err = relative_error(actual, expected);
  std::printf("[vae] %s %s: max rel err %.3g\n", what, shape_str(expected.shape()).c_str(), err);
  EXPECT_LE(err, kTolerance) << what;
}

// torch [N, C, H, W] -> [N, H, W, C]; [B, C, T, H, W] -> [B, T, H, W, C].
Tensor channels_last(const Tensor& t) {
  return ops::contiguous(t.dim() == 4 ? t.permute({0, 2, 3, 1}) : t.permute({0, 2, 3, 4, 1}));
}

// A copy of `store` in a temporary safetensors file without `drop` and with `misshape` one element longer.
io::WeightStore edited_copy(const io::WeightStore& store, const std::string& drop, const std::string& misshape) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("wma_test_vae_" + std::to_string(::getpid()) + ".safetensors");
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

TEST(VaeFixture, EncodeAndDecodeMatchUpstream) {
  const std::filesystem::path path = source_dir() / "tests/fixtures/vae.safetensors";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "fixture " << path << " not generated yet";
  const io::WeightStore fx = io::WeightStore::open(path.string());
  const AutoencoderKLConfig config = tiny_config();
  const io::WeightStore store = tiny_store(config);
  const AutoencoderKL vae(store, config);

  const Tensor video = channels_last(fx.load("input.video"));  // [B, T, H, W, 3]
  const Shape s = video.shape();
  const Tensor frames = video.reshape({s[0] * s[1], s[2], s[3], s[4]});
  const DiagonalGaussian posterior = vae.encode(frames);
  expect_match("posterior mean", posterior.mean, channels_last(fx.load("output.posterior_mean")));
  expect_match("posterior logvar", posterior.logvar, channels_last(fx.load("output.posterior_logvar")));

  // One CPU draw [1, 4, h, w] per frame, in frame order (perframe_ae).
  std::vector<Tensor> draws;
  for (std::int64_t i = 0; i < frames.size(0); ++i)
    draws.push_back(channels_last(fx.load("noise.posterior." + std::to_string(i))));
  const Tensor noise = ops::concat(draws, 0);
  const Tensor z = vae.encode_first_stage(video, noise.reshape({s[0], s[1], noise.size(1), noise.size(2), noise.size(3)}));
  expect_match("encode_first_stage z", z, channels_last(fx.load("output.z")));

  const Tensor z_in = channels_last(fx.load("input.decode_z"));  // [B, T, h, w, 4]
  const Tensor decoded = vae.decode_first_stage(z_in, 1);
  expect_match("decode_first_stage", decoded, channels_last(fx.load("output.decoded")));
}

TEST(VaeFixture, FramesPerCallDoesNotChangeResults) {
  const AutoencoderKLConfig config = tiny_config();
  const io::WeightStore store = tiny_store(config);
  const AutoencoderKL vae(store, config);
  std::vector<float> pixels(3 * 16 * 24 * 3), eps(3 * 2 * 3 * 4);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = std::sin(0.37f * static_cast<float>(i));
  for (std::size_t i = 0; i < eps.size(); ++i) eps[i] = std::cos(1.3f * static_cast<float>(i));
  const Tensor frames = Tensor::from_floats({3, 16, 24, 3}, pixels);
  const Tensor noise = Tensor::from_floats({3, 2, 3, 4}, eps);
  const Tensor z1 = vae.encode_first_stage(frames, noise, 1);
  EXPECT_LE(relative_error(vae.encode_first_stage(frames, noise, 0), z1), kTolerance);
  EXPECT_LE(relative_error(vae.encode_first_stage(frames, noise, 2), z1), kTolerance);
  const Tensor d1 = vae.decode_first_stage(z1, 1);
  EXPECT_EQ(d1.shape(), (Shape{3, 16, 24, 3}));
  EXPECT_LE(relative_error(vae.decode_first_stage(z1, 0), d1), kTolerance);
  EXPECT_LE(relative_error(vae.decode_first_stage(z1, 2), d1), kTolerance);
}

TEST(VaeLoad, MissingAndMisshapedKeysAreNamed) {
  const AutoencoderKLConfig config = tiny_config();
  const io::WeightStore store = tiny_store(config);
  const std::string missing = "first_stage_model.decoder.up.1.block.0.nin_shortcut.weight";
  const std::string misshaped = "first_stage_model.encoder.mid.attn_1.q.bias";
  ASSERT_TRUE(store.contains(missing));
  ASSERT_TRUE(store.contains(misshaped));
  const io::WeightStore edited = edited_copy(store, missing, misshaped);
  try {
    AutoencoderKL vae(edited, config);
    ADD_FAILURE() << "loading succeeded without " << missing;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("1 missing (" + missing + ")"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mis-shaped (" + misshaped), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace wma::models
