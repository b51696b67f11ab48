// Configuration from upstream's inference yaml and loading of every LatentVisualDiffusion part
// (models/ddpms.py, world_model_interaction.py load_model_checkpoint).
#include "pipeline/world_model.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "models/deterministic_source.h"

namespace wma::pipeline {
namespace {

std::vector<int> ints(const io::YamlNode& node) {
  std::vector<int> out;
  for (std::int64_t v : node.as_int_list()) out.push_back(static_cast<int>(v));
  return out;
}

// open_clip's built-in ViT-H-14 (the released configs name it), or a config under the yaml's
// `open_clip_model_configs` (how the test configs describe smaller towers).
const io::YamlNode* open_clip_arch(const io::YamlNode& root, const std::string& arch) {
  if (const io::YamlNode* custom = root.find_path("open_clip_model_configs"))
    if (const io::YamlNode* found = custom->find(arch)) return found;
  WMA_CHECK(arch == "ViT-H-14", "[config] open_clip arch '", arch,
            "' is neither ViT-H-14 nor listed under open_clip_model_configs");
  return nullptr;
}

models::ClipTextConfig text_config(const io::YamlNode* arch) {
  models::ClipTextConfig c;  // defaults are ViT-H-14's
  if (!arch) return c;
  const io::YamlNode& t = (*arch)["text_cfg"];
  c.context_length = static_cast<int>(t.get_int("context_length", c.context_length));
  c.vocab_size = static_cast<int>(t.get_int("vocab_size", c.vocab_size));
  c.width = static_cast<int>(t.get_int("width", c.width));
  c.heads = static_cast<int>(t.get_int("heads", c.heads));
  c.layers = static_cast<int>(t.get_int("layers", c.layers));
  c.mlp_ratio = t.get_double("mlp_ratio", c.mlp_ratio);
  return c;
}

models::ClipVisionConfig vision_config(const io::YamlNode* arch) {
  models::ClipVisionConfig c;
  if (!arch) return c;
  const io::YamlNode& v = (*arch)["vision_cfg"];
  c.image_size = static_cast<int>(v.get_int("image_size", c.image_size));
  c.patch_size = static_cast<int>(v.get_int("patch_size", c.patch_size));
  c.width = static_cast<int>(v.get_int("width", c.width));
  c.layers = static_cast<int>(v.get_int("layers", c.layers));
  c.heads = c.width / static_cast<int>(v.get_int("head_width", 64));
  c.mlp_ratio = v.get_double("mlp_ratio", c.mlp_ratio);
  return c;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream f(path);
  WMA_CHECK(f.good(), "[config] cannot read ", path.string());
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace

WorldModelConfig WorldModelConfig::from_yaml(const io::YamlNode& root, const io::json::Value& shape_meta,
                                             const std::string& source) {
  WorldModelConfig c;
  c.source = source;
  const io::YamlNode& p = root.at_path("model.params");

  const io::YamlNode& fs = p.at_path("first_stage_config.params");
  const io::YamlNode& dd = fs["ddconfig"];
  c.vae.ch = static_cast<int>(dd["ch"].as_int());
  c.vae.ch_mult = ints(dd["ch_mult"]);
  c.vae.num_res_blocks = static_cast<int>(dd["num_res_blocks"].as_int());
  c.vae.attn_resolutions = ints(dd["attn_resolutions"]);
  c.vae.resolution = static_cast<int>(dd["resolution"].as_int());
  c.vae.in_channels = static_cast<int>(dd["in_channels"].as_int());
  c.vae.out_ch = static_cast<int>(dd["out_ch"].as_int());
  c.vae.z_channels = static_cast<int>(dd["z_channels"].as_int());
  c.vae.double_z = dd.get_bool("double_z", true);
  c.vae.embed_dim = static_cast<int>(fs["embed_dim"].as_int());
  c.vae.scale_factor = p.get_double("scale_factor", 0.18215);

  c.text = text_config(open_clip_arch(root, p.at_path("cond_stage_config.params.arch").as_string()));
  c.vision = vision_config(open_clip_arch(root, p.at_path("img_cond_stage_config.params.arch").as_string()));

  const io::YamlNode& r = p.at_path("image_proj_stage_config.params");
  c.resampler.dim = r["dim"].as_int();
  c.resampler.depth = static_cast<int>(r["depth"].as_int());
  c.resampler.dim_head = static_cast<int>(r["dim_head"].as_int());
  c.resampler.heads = static_cast<int>(r["heads"].as_int());
  c.resampler.num_queries = r["num_queries"].as_int();
  c.resampler.embedding_dim = r["embedding_dim"].as_int();
  c.resampler.output_dim = r["output_dim"].as_int();
  c.resampler.ff_mult = static_cast<int>(r["ff_mult"].as_int());
  if (const io::YamlNode* vl = r.find("video_length"); vl && !vl->is_null()) c.resampler.video_length = vl->as_int();
  else c.resampler.video_length.reset();

  c.projectors.agent_state_dim = p.get_int("agent_state_dim", 16);
  c.projectors.agent_action_dim = p.get_int("agent_action_dim", 16);
  c.projectors.n_obs_steps_imagen = p.get_int("n_obs_steps_imagen", 2);
  c.n_obs_steps_imagen = c.projectors.n_obs_steps_imagen;
  c.n_obs_steps_acting = p.get_int("n_obs_steps_acting", 2);

  const io::json::Array& image = shape_meta.at("obs").at("image").at("shape").as_array();
  const io::json::Array& pos = shape_meta.at("obs").at("agent_pos").at("shape").as_array();
  WMA_CHECK(image.size() == 3 && pos.size() == 1, "[config] ", source, ": shape_meta obs.image must be [C, H, W]",
            " and obs.agent_pos [D]");
  c.obs_image_height = image[1].as_int();
  c.obs_image_width = image[2].as_int();
  c.wma = models::WMAModelConfig::from_yaml(p, c.obs_image_height, c.obs_image_width, pos[0].as_int());

  c.schedule.num_timesteps = static_cast<int>(p.get_int("timesteps", 1000));
  c.schedule.linear_start = p.get_double("linear_start", 0.00085);
  c.schedule.linear_end = p.get_double("linear_end", 0.012);
  c.schedule.rescale_zero_terminal_snr = p.get_bool("rescale_betas_zero_snr", false);
  c.schedule.use_dynamic_rescale = p.get_bool("use_dynamic_rescale", false);
  c.schedule.base_scale = p.get_double("base_scale", 0.7);
  WMA_CHECK(p.get_string("parameterization", "eps") == "v", "[config] ", source,
            ": only parameterization 'v' is supported (UnifoLM-WMA-0's)");

  if (const io::YamlNode* ns = p.find_path("noise_scheduler_config.params")) {
    c.head_scheduler.num_train_timesteps = static_cast<int>(ns->get_int("num_train_timesteps", 1000));
    c.head_scheduler.clip_sample = ns->get_bool("clip_sample", true);
    c.head_scheduler.set_alpha_to_one = ns->get_bool("set_alpha_to_one", true);
    WMA_CHECK(ns->get_string("beta_schedule", "squaredcos_cap_v2") == "squaredcos_cap_v2" &&
                  ns->get_string("prediction_type", "epsilon") == "epsilon" && ns->get_int("steps_offset", 0) == 0,
              "[config] ", source, ": the action/state scheduler must be squaredcos_cap_v2, epsilon, steps_offset 0");
  }

  c.latent_channels = p.get_int("channels", 4);
  const std::vector<std::int64_t> size = p["image_size"].as_int_list();
  WMA_CHECK(size.size() == 2, "[config] ", source, ": model.params.image_size must be [h, w]");
  c.latent_height = size[0];
  c.latent_width = size[1];
  c.perframe_ae = p.get_bool("perframe_ae", false);
  return c;
}

WorldModelConfig WorldModelConfig::load(const std::string& path) {
  const io::YamlNode root = io::load_yaml(path);
  const std::string key = "model.params.wma_config.params.unet_head_config.params.obs_encoder_config.params.shape_meta_path";
  const io::YamlNode* meta_node = root.find_path(key);
  WMA_CHECK(meta_node, "[config] ", path, " has no ", key);
  const std::filesystem::path meta = meta_node->as_string();
  std::filesystem::path found;
  if (meta.is_absolute() || std::filesystem::exists(meta)) {
    found = meta;
  } else {
    for (auto dir = std::filesystem::absolute(path).parent_path(); !dir.empty(); dir = dir.parent_path()) {
      if (std::filesystem::exists(dir / meta)) {
        found = dir / meta;
        break;
      }
      if (dir == dir.parent_path()) break;
    }
  }
  WMA_CHECK(!found.empty() && std::filesystem::exists(found), "[config] ", path, ": shape_meta_path '",
            meta.string(), "' not found (relative to the working directory or the config's folders)");
  return from_yaml(root, io::json::parse(read_text(found)), path);
}

namespace {
// Prefixes each module's strict-load error with the config and checkpoint it came from.
template <typename Build>
auto load_part(const char* what, const io::WeightStore& store, const WorldModelConfig& config, Build&& build) {
  try {
    return build();
  } catch (const Error& e) {
    fail("[model] ", store.path(), " does not match the config ", config.source, " (", what, "): ", e.what());
  }
}

sampling::VideoScheduleBuffers schedule_buffers(const io::WeightStore& store) {
  sampling::VideoScheduleBuffers b;
  auto take = [&](const char* key, std::optional<std::vector<float>>& into) {
    if (store.contains(key)) into = store.load(key).to_floats();
  };
  take("betas", b.betas);
  take("alphas_cumprod", b.alphas_cumprod);
  take("alphas_cumprod_prev", b.alphas_cumprod_prev);
  take("sqrt_alphas_cumprod", b.sqrt_alphas_cumprod);
  take("sqrt_one_minus_alphas_cumprod", b.sqrt_one_minus_alphas_cumprod);
  take("scale_arr", b.scale_arr);
  return b;
}
}  // namespace

WorldModel::WorldModel(const io::WeightStore& store, const WorldModelConfig& c, const nn::LoadOptions& o)
    : config(c),
      options(o),
      vae(load_part("first_stage_model", store, c, [&] { return models::AutoencoderKL(store, c.vae, o); })),
      text_encoder(load_part("cond_stage_model", store, c, [&] { return models::ClipTextEncoder(store, c.text, o); })),
      image_embedder(
          load_part("embedder", store, c, [&] { return models::ClipImageEmbedder(store, c.vision, o); })),
      image_proj(load_part("image_proj_model", store, c, [&] { return models::Resampler(store, c.resampler, o); })),
      projectors(load_part("projectors", store, c, [&] { return models::AgentProjectors(store, c.projectors, o); })),
      diffusion(load_part("model.diffusion_model", store, c, [&] { return models::WMAModel(store, c.wma, o); })),
      schedule(load_part("schedule buffers", store, c,
                         [&] { return sampling::make_video_schedule(c.schedule, schedule_buffers(store)); })) {}

io::WeightStore deterministic_world_model_store(const WorldModelConfig& c) {
  return models::deterministic_store_for([&](const io::WeightStore& s) {
    auto quietly = [](auto&& build) {
      try {
        build();
      } catch (const Error&) {
      }
    };
    quietly([&] { models::AutoencoderKL(s, c.vae); });
    quietly([&] { models::ClipTextEncoder(s, c.text); });
    quietly([&] { models::ClipImageEmbedder(s, c.vision); });
    quietly([&] { models::Resampler(s, c.resampler); });
    quietly([&] { models::AgentProjectors(s, c.projectors); });
    // WMAModel's strict load stops at its first failing part, so its parts list their keys one by one.
    const std::string prefix = "model.diffusion_model.";
    quietly([&] { models::WMAUNet(c.wma.unet).load(nn::WeightBinder(s, prefix, {})); });
    quietly([&] { models::SATokenProjector(s, c.wma.action_token_projector, {}, prefix + "action_token_projector."); });
    quietly([&] { models::ConditionalUnet1D(s, c.wma.heads, {}, prefix + "action_unet."); });
    quietly([&] { models::ConditionalUnet1D(s, c.wma.heads, {}, prefix + "state_unet."); });
  });
}

}  // namespace wma::pipeline
