// Base-model generation (pipeline/generation.h) against upstream's base_model_inference.py with recorded noise
// (tests/fixtures/base_n4.safetensors): the prompt pictures as load_data_prompts reads them, then two chunks
// from the tiny base model (tests/fixtures/configs/tiny_base.yaml).
#include <gtest/gtest.h>

#include <cstdio>

#include "io/weight_store.h"
#include "pipeline/generation.h"
#include "pipeline/image_preprocess.h"
#include "pipeline_test_util.h"

namespace wma::pipeline {
namespace {

constexpr double kTolerance = 1e-4;

struct TinyBaseModel {
  WorldModelConfig config;
  io::WeightStore store;
  WorldModel model;
  models::ClipTokenizer tokenizer;
  TinyBaseModel()
      : config(test::load_fixture_config(test::source_dir() / "tests/fixtures/configs/tiny_base.yaml")),
        store(deterministic_world_model_store(config)),
        model(store, config),
        tokenizer(models::ClipTokenizer::load(test::bpe_path().string())) {}
};

io::WeightStore fixture() {
  return io::WeightStore::open((test::source_dir() / "tests/fixtures/base_n4.safetensors").string());
}

io::Rgb8Image picture(const Tensor& hwc) {
  io::Rgb8Image image{static_cast<int>(hwc.size(1)), static_cast<int>(hwc.size(0)), {}};
  for (std::int64_t v : hwc.to_ints()) image.pixels.push_back(static_cast<std::uint8_t>(v));
  return image;
}

TEST(GenerationFixture, PromptPicturesLoadLikeUpstream) {
  const io::WeightStore fx = fixture();
  for (const char* i : {"0", "1"}) {
    const Tensor source = fx.load(std::string("input.image.") + i);
    const Tensor ours = prepare_prompt_image(picture(source), 64, 64);
    // The fixture stores the uint8 picture u behind upstream's frame (u / 255 - 0.5) / 0.5.
    std::vector<float> expected;
    const Tensor u = fx.load(std::string("input.frame.") + i);
    for (std::int64_t v : ops::contiguous(u.permute({2, 0, 1})).to_ints())
      expected.push_back((static_cast<float>(v) / 255.0f - 0.5f) / 0.5f);
    EXPECT_EQ(ours.to_floats(), expected) << "picture " << i << " " << shape_str(source.shape());
  }
}

TEST(GenerationFixture, BaseModelChunksMatchUpstream) {
  WMA_REQUIRE_BPE();
  const io::WeightStore fx = fixture();
  static const TinyBaseModel base;
  PassOptions options;
  options.ddim_steps = 4;
  options.ddim_eta = 1.0;
  options.timestep_spacing = sampling::TimestepSpacing::UniformTrailing;
  Synthesizer synth(base.model, base.tokenizer, options);
  BaseModelGenerator generator(synth, base.tokenizer);
  RecordedNoise noise("base_n4");
  noise.append_pass(fx, "chunk0.");
  noise.append_pass(fx, "chunk1.");

  const Tensor frame =
      ops::contiguous(prepare_prompt_image(picture(fx.load("input.image.0")), 64, 64).permute({1, 2, 0})).unsqueeze(0);
  int steps = 0;
  const std::vector<ChunkOutput> chunks =
      generator.generate(frame, "wash the pan" /* the fixture's metadata `prompt` */, fx.load("input.fs").to_ints()[0],
                         2, noise, nullptr, [&] { ++steps; });
  EXPECT_EQ(steps, 2 * options.ddim_steps);
  EXPECT_EQ(noise.remaining_cpu(), 0u);
  EXPECT_EQ(noise.remaining_cuda(), 0u);
  ASSERT_EQ(chunks.size(), 2u);
  const std::pair<const char*, Tensor> checks[] = {
      {"chunk0.output.latent", chunks[0].latent.permute({0, 4, 1, 2, 3})},
      {"chunk1.output.latent", chunks[1].latent.permute({0, 4, 1, 2, 3})},
      {"chunk1.output.video", chunks[1].video.permute({0, 4, 1, 2, 3})},
  };
  for (const auto& [key, value] : checks) {
    const double err = test::relative_error(value, fx.load(key));
    std::printf("[base_n4] %s %s: max rel err %.3g\n", key, shape_str(value.shape()).c_str(), err);
    EXPECT_LE(err, kTolerance) << key;
  }
}

TEST(GenerationFixture, RefusesAnInteractionModel) {
  WMA_REQUIRE_BPE();
  Synthesizer synth(test::tiny_model().model, test::tiny_model().tokenizer, PassOptions{});
  try {
    BaseModelGenerator generator(synth, test::tiny_model().tokenizer);
    FAIL() << "an interaction model was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a base-model config"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace wma::pipeline
