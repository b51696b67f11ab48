// WmaConfig (models/model_config.h): upstream's inference yamls load, the released one gives the
// released model's sizes, and the tiny fixture yaml gives the tiny sizes the fixtures were written with.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "models/model_config.h"
#include "util/model_test_util.h"
#include "util/test_data.h"

namespace wma::models {
namespace {

std::filesystem::path upstream_config(const std::string& name) { return test_data::upstream_configs() / name; }

TEST(WmaConfig, UpstreamInteractionYamlGivesReleasedSizes) {
  const auto path = upstream_config("world_model_interaction.yaml");
  WMA_REQUIRE_UPSTREAM(path, "configs/inference/world_model_interaction.yaml");
  const WmaConfig c = WmaConfig::from_yaml(io::load_yaml(path.string()));

  EXPECT_EQ(c.vae.ch, 128);
  EXPECT_EQ(c.vae.ch_mult, (std::vector<int>{1, 2, 4, 4}));
  EXPECT_EQ(c.vae.num_res_blocks, 2);
  EXPECT_EQ(c.vae.z_channels, 4);
  EXPECT_EQ(c.vae.embed_dim, 4);
  EXPECT_DOUBLE_EQ(c.vae.scale_factor, 0.18215);

  // ViT-H-14 (the configs name no arch: upstream's default).
  EXPECT_EQ(c.text.width, 1024);
  EXPECT_EQ(c.text.layers, 24);
  EXPECT_EQ(c.text.heads, 16);
  EXPECT_EQ(c.text.context_length, 77);
  EXPECT_EQ(c.vision.width, 1280);
  EXPECT_EQ(c.vision.layers, 32);
  EXPECT_EQ(c.vision.heads, 16);
  EXPECT_EQ(c.vision.tokens(), 257);

  EXPECT_EQ(c.resampler.dim, 1024);
  EXPECT_EQ(c.resampler.depth, 4);
  EXPECT_EQ(c.resampler.heads, 12);
  EXPECT_EQ(c.resampler.embedding_dim, 1280);
  EXPECT_EQ(c.resampler.output_dim, 1024);
  EXPECT_EQ(c.resampler.num_latents(), 16 * 16);

  EXPECT_EQ(c.projectors.agent_state_dim, 16);
  EXPECT_EQ(c.projectors.agent_action_dim, 16);
  EXPECT_EQ(c.projectors.n_obs_steps_imagen, 2);

  const WMAUNetConfig& u = c.diffusion.unet;
  EXPECT_EQ(u.in_channels, 8);
  EXPECT_EQ(u.out_channels, 4);
  EXPECT_EQ(u.model_channels, 320);
  EXPECT_EQ(u.context_dim, 1024);
  EXPECT_EQ(u.channel_mult, (std::vector<int>{1, 2, 4, 4}));
  EXPECT_EQ(u.attention_resolutions, (std::vector<int>{4, 2, 1}));
  EXPECT_EQ(u.num_head_channels, 64);
  EXPECT_EQ(u.temporal_length, 16);
  EXPECT_EQ(u.n_obs_steps, 2);
  EXPECT_EQ(u.num_stem_token, 16);
  EXPECT_FALSE(u.base_model_gen_only);

  const SATokenProjectorConfig& sa = c.diffusion.action_token_projector;
  EXPECT_EQ(sa.dim, 1024);
  EXPECT_EQ(sa.heads, 16);
  EXPECT_EQ(sa.dim_head, 64);
  EXPECT_EQ(sa.num_latents(), 16 * 16);

  const ConditionalUnet1DConfig& h = c.diffusion.heads;
  EXPECT_EQ(h.context_dims, (std::vector<std::int64_t>{320, 640, 1280, 1280}));
  EXPECT_EQ(h.down_dims, (std::vector<std::int64_t>{256, 512, 1024, 2048}));
  EXPECT_EQ(h.step_embed_dim, 128);
  EXPECT_EQ(h.obs.num_kp, 128);
  EXPECT_EQ(h.global_cond_dim(), 544);
  EXPECT_EQ(h.kernel_size, 5);
  EXPECT_EQ(h.image_height, 40);
  EXPECT_EQ(h.image_width, 64);
}

TEST(WmaConfig, EveryUpstreamInferenceYamlLoads) {
  for (const std::string name :
       {"world_model_interaction.yaml", "world_model_decision_making.yaml", "base_model_inference.yaml"}) {
    const auto path = upstream_config(name);
    WMA_REQUIRE_UPSTREAM(path, "configs/inference/" + std::string(name));
    EXPECT_NO_THROW(WmaConfig::from_yaml(io::load_yaml(path.string()))) << name;
  }
}

TEST(WmaConfig, TinyYamlGivesTheFixtureSizes) {
  const WmaConfig& c = test::tiny_config();
  EXPECT_EQ(c.vae.ch, 32);
  EXPECT_EQ(c.vae.num_res_blocks, 1);
  EXPECT_EQ(c.text.width, 1024);
  EXPECT_EQ(c.text.layers, 3);
  EXPECT_EQ(c.vision.width, 160);
  EXPECT_EQ(c.vision.heads, 2);
  EXPECT_EQ(c.vision.mlp_ratio, 2.0);
  EXPECT_EQ(c.resampler.dim, 256);
  EXPECT_EQ(c.resampler.embedding_dim, 160);
  EXPECT_EQ(c.resampler.video_length, 16);
  EXPECT_EQ(c.diffusion.unet.model_channels, 64);
  EXPECT_EQ(c.diffusion.action_token_projector.heads, 8);
  EXPECT_EQ(c.diffusion.heads.obs.image_height, 64);
  EXPECT_EQ(c.diffusion.heads.obs.num_kp, 32);
}

TEST(WmaConfig, UnimplementedChoicesAreRefused) {
  const io::YamlNode last = io::parse_yaml("layer: last\n");
  EXPECT_THROW(ClipTextConfig::from_yaml(last), Error);
  const io::YamlNode unknown = io::parse_yaml("layer: penultimate\narch: ViT-B-32\n");
  EXPECT_THROW(ClipTextConfig::from_yaml(unknown), Error);
  EXPECT_THROW(ClipVisionConfig::from_yaml(unknown), Error);
}

}  // namespace
}  // namespace wma::models
