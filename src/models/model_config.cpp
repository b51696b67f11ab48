#include "models/model_config.h"

#include "core/error.h"

namespace wma::models {

ObsShapeMeta ObsShapeMeta::from_json(const io::json::Value& shape_meta) {
  const io::json::Array& image = shape_meta.at("obs").at("image").at("shape").as_array();
  const io::json::Array& pos = shape_meta.at("obs").at("agent_pos").at("shape").as_array();
  WMA_CHECK(image.size() == 3 && pos.size() == 1,
            "[config] shape_meta obs.image.shape must be [C, H, W] and obs.agent_pos.shape [D]");
  return {.image_height = image[1].as_int(), .image_width = image[2].as_int(), .agent_pos_dim = pos[0].as_int()};
}

WmaConfig WmaConfig::from_yaml(const io::YamlNode& root, const ObsShapeMeta& obs) {
  const io::YamlNode& p = root.at_path("model.params");
  const io::YamlNode* open_clip = root.find("open_clip_model_configs");
  WmaConfig c;
  // scale_factor absent is LatentDiffusion's default, 1.0.
  c.vae = AutoencoderKLConfig::from_yaml(p.at_path("first_stage_config.params"), p.get_double("scale_factor", 1.0));
  c.text = ClipTextConfig::from_yaml(p.at_path("cond_stage_config.params"), open_clip);
  c.vision = ClipVisionConfig::from_yaml(p.at_path("img_cond_stage_config.params"), open_clip);
  c.resampler = ResamplerConfig::from_yaml(p.at_path("image_proj_stage_config.params"));
  c.projectors = AgentProjectorsConfig::from_yaml(p);
  c.diffusion = WMAModelConfig::from_yaml(p, obs.image_height, obs.image_width, obs.agent_pos_dim);
  return c;
}

}  // namespace wma::models
