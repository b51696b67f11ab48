// Parity of first_stage_model (models/vae.h) with upstream's AutoencoderKL and LatentDiffusion's
// encode_first_stage / decode_first_stage (tests/fixtures/vae.safetensors, written by
// tools/reference/fixtures_components.py with deterministic weights), plus strict-load errors.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "models/vae.h"
#include "ops/ops.h"
#include "util/model_test_util.h"

namespace wma::models {
namespace {

using test::channels_last;

constexpr double kTolerance = 1e-5;

void expect_match(const char* what, const Tensor& actual, const Tensor& expected) {
  test::expect_close("vae", what, actual, expected, kTolerance);
}

TEST(VaeFixture, EncodeAndDecodeMatchUpstream) {
  const io::WeightStore fx = test::load_fixture("vae.safetensors");
  const AutoencoderKLConfig& config = test::tiny_config().vae;
  const io::WeightStore store = test::deterministic_store<AutoencoderKL>(config);
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
  const Tensor z =
      vae.encode_first_stage(video, noise.reshape({s[0], s[1], noise.size(1), noise.size(2), noise.size(3)}));
  expect_match("encode_first_stage z", z, channels_last(fx.load("output.z")));

  const Tensor z_in = channels_last(fx.load("input.decode_z"));  // [B, T, h, w, 4]
  const Tensor decoded = vae.decode_first_stage(z_in, 1);
  expect_match("decode_first_stage", decoded, channels_last(fx.load("output.decoded")));
}

TEST(VaeFixture, FramesPerCallDoesNotChangeResults) {
  const AutoencoderKLConfig& config = test::tiny_config().vae;
  const io::WeightStore store = test::deterministic_store<AutoencoderKL>(config);
  const AutoencoderKL vae(store, config);
  std::vector<float> pixels(3 * 16 * 24 * 3), eps(3 * 2 * 3 * 4);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = std::sin(0.37f * static_cast<float>(i));
  for (std::size_t i = 0; i < eps.size(); ++i) eps[i] = std::cos(1.3f * static_cast<float>(i));
  const Tensor frames = Tensor::from_floats({3, 16, 24, 3}, pixels);
  const Tensor noise = Tensor::from_floats({3, 2, 3, 4}, eps);
  const Tensor z1 = vae.encode_first_stage(frames, noise, 1);
  EXPECT_LE(test::relative_error(vae.encode_first_stage(frames, noise, 0), z1), kTolerance);
  EXPECT_LE(test::relative_error(vae.encode_first_stage(frames, noise, 2), z1), kTolerance);
  const Tensor d1 = vae.decode_first_stage(z1, 1);
  EXPECT_EQ(d1.shape(), (Shape{3, 16, 24, 3}));
  EXPECT_LE(test::relative_error(vae.decode_first_stage(z1, 0), d1), kTolerance);
  EXPECT_LE(test::relative_error(vae.decode_first_stage(z1, 2), d1), kTolerance);
}

TEST(VaeLoad, MissingAndMisshapedKeysAreNamed) {
  const AutoencoderKLConfig& config = test::tiny_config().vae;
  const io::WeightStore store = test::deterministic_store<AutoencoderKL>(config);
  const std::string missing = "first_stage_model.decoder.up.1.block.0.nin_shortcut.weight";
  const std::string misshaped = "first_stage_model.encoder.mid.attn_1.q.bias";
  ASSERT_TRUE(store.contains(missing));
  ASSERT_TRUE(store.contains(misshaped));
  const io::WeightStore edited = test::edited_copy(store, missing, misshaped);
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
