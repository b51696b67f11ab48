// upstream's WMAModel (modules/networks/wma_model.py) assembled from its parts; forward L688-848
// split into prepare (everything independent of x and t) and denoise (one step).
#include "models/wma_model.h"

#include <utility>

namespace wma::models {

WMAModelConfig WMAModelConfig::from_yaml(const io::YamlNode& model_params, std::int64_t obs_image_height,
                                         std::int64_t obs_image_width, std::int64_t obs_low_dim) {
  WMAModelConfig c;
  c.unet = WMAUNetConfig::from_yaml(model_params);
  c.action_token_projector =
      SATokenProjectorConfig::from_yaml(model_params.at_path("wma_config.params.stem_process_config.params"));
  c.heads = ConditionalUnet1DConfig::from_yaml(model_params, obs_image_height, obs_image_width, obs_low_dim);
  return c;
}

WMAModel::WMAModel(const io::WeightStore& store, const WMAModelConfig& config, const nn::LoadOptions& options,
                   const std::string& prefix)
    : config_(config), unet_(config.unet) {
  const nn::WeightBinder w(store, prefix, options);
  unet_.load(w);
  // The projector and the heads bind (and check) their own subtrees.
  for (const char* sub : {"action_token_projector", "action_unet", "state_unet"}) w.ignore_subtree(sub);
  if (!config.unet.base_model_gen_only) {
    projector_.emplace(store, config.action_token_projector, options, prefix + "action_token_projector.");
    action_unet_.emplace(store, config.heads, options, prefix + "action_unet.");
    state_unet_.emplace(store, config.heads, options, prefix + "state_unet.");
  }
  w.finish("WMAModel");
}

WMAPass WMAModel::prepare(const WMAConditioning& cond) const {
  const Tensor& c_concat = cond.c_concat;
  WMA_CHECK(c_concat.dim() == 5, "[WMAModel] expected c_concat [B, T, h, w, C], got ", c_concat.describe());
  const std::int64_t batch = c_concat.size(0), frames = c_concat.size(1);
  WMAPass pass;
  const ActionTokenProjector project =
      projector_ ? ActionTokenProjector([this](const Tensor& x) { return (*projector_)(x); }) : ActionTokenProjector();
  const Tensor context = unet_.frame_context(cond.context, frames, project);
  pass.unet = unet_.prepare(context, cond.fs, batch, frames, c_concat.size(2), c_concat.size(3));
  pass.c_concat = ops::cast(c_concat, DType::F32);  // joins the f32 sampler state every step
  if (action_unet_) {
    pass.action_global_cond = action_unet_->encode_observation(cond.obs_images, cond.obs_state);
    pass.state_global_cond = state_unet_->encode_observation(cond.obs_images, cond.obs_state);
  }
  return pass;
}

WMADenoised WMAModel::denoise(const Tensor& x_t, const Tensor& action_t, const Tensor& state_t, const Tensor& t,
                              const WMAPass& pass) const {
  // Upstream's UNet input: [noisy latent | conditioning latent] along channels.
  const Tensor x = ops::concat({ops::cast(x_t, DType::F32), pass.c_concat}, -1);
  UNetOutput out = unet_.forward(x, t, pass.unet);
  WMADenoised result;
  result.v = std::move(out.v);
  if (!action_unet_) {
    result.action_eps = Tensor::empty(action_t.shape(), DType::F32, action_t.device());
    ops::fill(result.action_eps, 0.0f);
    result.state_eps = Tensor::empty(state_t.shape(), DType::F32, state_t.device());
    ops::fill(result.state_eps, 0.0f);
    return result;
  }
  result.action_eps = ops::cast((*action_unet_)(action_t, t, out.hs_a, pass.action_global_cond), DType::F32);
  result.state_eps = ops::cast((*state_unet_)(state_t, t, out.hs_a, pass.state_global_cond), DType::F32);
  return result;
}

}  // namespace wma::models
