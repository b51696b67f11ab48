// Parity of the WMAModel video UNet (models/wma_unet.h) with upstream: the policy and
// world-model pass fixtures (tests/fixtures/wma_{policy,world}.safetensors, written by
// tools/reference/fixtures_wma.py from upstream's WMAModel.forward with deterministic weights).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "io/weight_store.h"
#include "io/yaml.h"
#include "models/deterministic_source.h"
#include "models/deterministic_weights.h"
#include "models/sa_token_projector.h"
#include "models/wma_unet.h"
#include "ops/ops.h"

namespace wma::models {
namespace {

constexpr const char* kPrefix = "model.diffusion_model.";
constexpr float kTolerance = 1e-5f;

std::filesystem::path source_dir() {
  const char* dir = std::getenv("WMA_SOURCE_DIR");  // set by ctest
  return dir ? dir : ".";
}

std::filesystem::path fixture(const std::string& name) { return source_dir() / "tests" / "fixtures" / name; }

std::vector<int> int_list(const io::YamlNode& node) {
  std::vector<int> out;
  for (std::int64_t v : node.as_int_list()) out.push_back(static_cast<int>(v));
  return out;
}

// `model.params.wma_config.params` of a yaml -> the UNet config.
WMAUNetConfig unet_config(const io::YamlNode& p) {
  WMAUNetConfig c;
  c.in_channels = p["in_channels"].as_int();
  c.out_channels = p["out_channels"].as_int();
  c.model_channels = p["model_channels"].as_int();
  c.attention_resolutions = int_list(p["attention_resolutions"]);
  c.num_res_blocks = static_cast<int>(p["num_res_blocks"].as_int());
  c.channel_mult = int_list(p["channel_mult"]);
  c.num_heads = static_cast<int>(p.get_int("num_heads", -1));
  c.num_head_channels = static_cast<int>(p.get_int("num_head_channels", -1));
  c.transformer_depth = static_cast<int>(p.get_int("transformer_depth", 1));
  c.context_dim = p["context_dim"].as_int();
  c.use_linear = p.get_bool("use_linear", false);
  c.temporal_conv = p.get_bool("temporal_conv", false);
  c.temporal_attention = p.get_bool("temporal_attention", true);
  c.addition_attention = p.get_bool("addition_attention", false);
  c.image_cross_attention = p.get_bool("image_cross_attention", false);
  c.fs_condition = p.get_bool("fs_condition", false);
  c.default_fs = static_cast<int>(p.get_int("default_fs", 4));
  c.temporal_length = static_cast<int>(p["temporal_length"].as_int());
  c.n_obs_steps = static_cast<int>(p.get_int("n_obs_steps", 1));
  c.num_stem_token = static_cast<int>(p.get_int("num_stem_token", 1));
  c.base_model_gen_only = p.get_bool("base_model_gen_only", false);
  c.use_relative_position = p.get_bool("use_relative_position", true);
  c.use_causal_attention = p.get_bool("use_causal_attention", false);
  c.temporal_selfatt_only = p.get_bool("temporal_selfatt_only", true);
  c.cross_attention_scale_learnable = p.get_bool("cross_attention_scale_learnable", false);
  return c;
}

SATokenProjectorConfig projector_config(const io::YamlNode& p) {
  SATokenProjectorConfig c;
  c.dim = p["dim"].as_int();
  c.depth = static_cast<int>(p["depth"].as_int());
  c.dim_head = static_cast<int>(p["dim_head"].as_int());
  c.heads = static_cast<int>(p["heads"].as_int());
  c.num_queries = p["num_queries"].as_int();
  c.output_dim = p["output_dim"].as_int();
  c.ff_mult = static_cast<int>(p["ff_mult"].as_int());
  c.chunk_size = p["chunk_size"].as_int();
  return c;
}

// The tiny fixture model: the UNet and the action token projector on deterministic weights.
struct TinyUNet {
  WMAUNetConfig config;
  SATokenProjectorConfig projector_config;
  io::WeightStore store;
  WMAUNet unet;
  SATokenProjector projector;

  static TinyUNet create() {
    const io::YamlNode yaml = io::load_yaml((source_dir() / "tests/fixtures/configs/tiny.yaml").string());
    const io::YamlNode& wma = yaml.at_path("model.params.wma_config.params");
    const WMAUNetConfig uc = unet_config(wma);
    const SATokenProjectorConfig pc = projector_config(wma["stem_process_config"]["params"]);
    io::WeightStore store = deterministic_store_for([&](const io::WeightStore& s) {
      WMAUNet(uc).load(nn::WeightBinder(s, kPrefix, {}));
      SATokenProjector(s, pc);
    });
    return TinyUNet(uc, pc, std::move(store));
  }

  TinyUNet(const WMAUNetConfig& uc, const SATokenProjectorConfig& pc, io::WeightStore s)
      : config(uc), projector_config(pc), store(std::move(s)), unet(uc), projector(store, pc) {
    nn::WeightBinder w(store, kPrefix, {});
    unet.load(w);
    w.ignore_subtree("action_token_projector");
    w.finish("WMAUNet");
  }

  ActionTokenProjector project() const {
    return [this](const Tensor& tokens) { return projector(tokens); };
  }
};

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

void check_pass(const std::string& fixture_name) {
  const std::filesystem::path path = fixture(fixture_name + ".safetensors");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "fixture " << path << " not generated yet";
  const io::WeightStore fx = io::WeightStore::open(path.string());
  static const TinyUNet model = TinyUNet::create();

  const Tensor x = fx.load("input.x");  // [B, 8, T, h, w]
  const std::int64_t batch = x.size(0), frames = x.size(2), height = x.size(3), width = x.size(4);
  const Tensor context = model.unet.frame_context(fx.load("input.context"), frames, model.project());
  const UNetPass pass = model.unet.prepare(context, fx.load("input.fs"), batch, frames, height, width);
  const UNetOutput out =
      model.unet.forward(ops::contiguous(x.permute({0, 2, 3, 4, 1})), fx.load("input.timesteps"), pass);

  const double v_err = relative_error(out.v.permute({0, 4, 1, 2, 3}), fx.load("output.v"));
  std::printf("[%s] v: max rel err %.3g\n", fixture_name.c_str(), v_err);
  EXPECT_LE(v_err, kTolerance) << "output.v";
  ASSERT_EQ(out.hs_a.size(), 9u);
  for (std::size_t i = 0; i < out.hs_a.size(); ++i) {
    const std::string name = "output.hs_a." + std::to_string(i);
    const double err = relative_error(out.hs_a[i].permute({0, 1, 4, 2, 3}), fx.load(name));
    std::printf("[%s] hs_a.%zu %s: max rel err %.3g\n", fixture_name.c_str(), i,
                shape_str(out.hs_a[i].shape()).c_str(), err);
    EXPECT_LE(err, kTolerance) << name;
  }
}

// A small model for properties that need no fixture: every layout path, little compute.
struct SmallUNet {
  static WMAUNetConfig unet_config() {
    WMAUNetConfig c;
    c.model_channels = 32;
    c.channel_mult = {1, 2};
    c.attention_resolutions = {1, 2};
    c.num_head_channels = 16;
    c.context_dim = 64;
    return c;
  }
  static SATokenProjectorConfig projector_config() {
    SATokenProjectorConfig c;
    c.dim = c.output_dim = 64;
    c.heads = 4;
    c.dim_head = 16;
    c.ff_mult = 1;
    return c;
  }
};

Tensor input(const std::string& name, const Shape& shape) { return deterministic_tensor("input." + name, shape); }

// Bitwise equality: the cache must reproduce the uncached computation exactly, not approximately.
void expect_identical(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  EXPECT_EQ(ops::contiguous(a).to_floats(), ops::contiguous(b).to_floats()) << what;
}

// One prepare per sampling pass gives the same step outputs as preparing before every step.
TEST(UNetCache, PreparedPassEqualsRecomputingEveryStep) {
  const WMAUNetConfig uc = SmallUNet::unet_config();
  const SATokenProjectorConfig pc = SmallUNet::projector_config();
  const io::WeightStore store = deterministic_store_for([&](const io::WeightStore& s) {
    WMAUNet(uc).load(nn::WeightBinder(s, kPrefix, {}));
    SATokenProjector(s, pc);
  });
  WMAUNet unet(uc);
  unet.load(nn::WeightBinder(store, kPrefix, {}));
  const SATokenProjector projector(store, pc);
  const ActionTokenProjector project = [&](const Tensor& x) { return projector(x); };

  const std::int64_t frames = 16, size = 4;
  // Both context layouts: with action tokens (2 + 16 + 77 + 256) and without (2 + 77 + 256).
  for (const std::int64_t len : {351, 335}) {
    const Tensor context = input("context", {1, len, uc.context_dim});
    const Tensor fs = Tensor::from_ints({1}, {7});
    const UNetPass cached = unet.prepare(unet.frame_context(context, frames, project), fs, 1, frames, size, size);
    for (const std::int64_t t : {999, 500, 1}) {
      const Tensor x = input("x" + std::to_string(t), {1, frames, size, size, uc.in_channels});
      const Tensor timestep = Tensor::from_ints({1}, {t});
      const UNetPass fresh = unet.prepare(unet.frame_context(context, frames, project), fs, 1, frames, size, size);
      const UNetOutput a = unet.forward(x, timestep, cached), b = unet.forward(x, timestep, fresh);
      const std::string what = "L=" + std::to_string(len) + " t=" + std::to_string(t);
      expect_identical(a.v, b.v, what + " v");
      ASSERT_EQ(a.hs_a.size(), 5u);  // two levels: in2, in5, middle, out1 (before out2 upsamples), out5
      for (std::size_t i = 0; i < a.hs_a.size(); ++i) expect_identical(a.hs_a[i], b.hs_a[i], what + " hs_a");
    }
  }
}

TEST(UNetFixture, PolicyPassMatchesUpstream) { check_pass("wma_policy"); }

TEST(UNetFixture, WorldModelPassMatchesUpstream) { check_pass("wma_world"); }

}  // namespace
}  // namespace wma::models
