// Configuration from upstream's inference yaml and loading of every LatentVisualDiffusion part
// (models/ddpms.py, world_model_interaction.py load_model_checkpoint).
#include "pipeline/world_model.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "core/log.h"
#include "models/construction_draws.h"
#include "models/deterministic_source.h"
#include "models/model_config.h"

namespace wma::pipeline {
namespace {

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

  // The modules' own mappings (models::WmaConfig); what follows is the pipeline's own part of the yaml.
  const models::ObsShapeMeta obs = models::ObsShapeMeta::from_json(shape_meta);
  models::WmaConfig m = models::WmaConfig::from_yaml(root, obs);
  c.vae = std::move(m.vae);
  c.text = std::move(m.text);
  c.vision = std::move(m.vision);
  c.resampler = std::move(m.resampler);
  c.projectors = std::move(m.projectors);
  c.wma = std::move(m.diffusion);
  c.n_obs_steps_imagen = c.projectors.n_obs_steps_imagen;
  c.n_obs_steps_acting = p.get_int("n_obs_steps_acting", 2);
  c.obs_image_height = obs.image_height;
  c.obs_image_width = obs.image_width;
  c.construction_cpu_draws = models::upstream_construction_draws(root, obs).total();

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
  const std::string key =
      "model.params.wma_config.params.unet_head_config.params.obs_encoder_config.params.shape_meta_path";
  const io::YamlNode* meta_node = root.find_path(key);
  // Without the key upstream opens configs/train/meta.json under the working directory (MultiImageObsEncoder);
  // the official inference configs rely on that.
  const bool explicit_meta = meta_node && !meta_node->is_null();
  const std::filesystem::path meta = explicit_meta ? meta_node->as_string() : "configs/train/meta.json";
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
  if (!found.empty() && std::filesystem::exists(found)) return from_yaml(root, io::json::parse(read_text(found)), path);
  WMA_CHECK(!explicit_meta, "[config] ", path, ": shape_meta_path '", meta.string(),
            "' not found (relative to the working directory or the config's folders)");
  // No meta file anywhere: the heads then see what the model generates, [3, 8*h, 8*w] frames and
  // agent_state_dim-long states, which is what upstream's shipped meta.json says for UnifoLM-WMA-0.
  const io::YamlNode& p = root.at_path("model.params");
  const std::vector<std::int64_t> size = p["image_size"].as_int_list();
  WMA_CHECK(size.size() == 2, "[config] ", path, ": model.params.image_size must be [h, w]");
  const std::int64_t down =
      std::int64_t{1}
      << (root.at_path("model.params.first_stage_config.params.ddconfig")["ch_mult"].as_int_list().size() - 1);
  const std::int64_t state_dim = p.get_int("agent_state_dim", 16), action_dim = p.get_int("agent_action_dim", 16);
  const std::string derived = str_cat(R"({"obs": {"image": {"shape": [3, )", size[0] * down, ", ", size[1] * down,
                                      R"(], "type": "rgb"}, "agent_pos": {"shape": [)", state_dim,
                                      R"(], "type": "low_dim"}}, "action": {"shape": [)", action_dim, "]}}");
  log_info("[config] ", path, ": no configs/train/meta.json found, the heads' observation shapes follow the model (",
           size[0] * down, "x", size[1] * down, " frames, ", state_dim, "-d states)");
  return from_yaml(root, io::json::parse(derived), path);
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
      image_embedder(load_part("embedder", store, c, [&] { return models::ClipImageEmbedder(store, c.vision, o); })),
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
