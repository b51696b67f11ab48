#include "models/projectors.h"

#include <utility>

namespace wma::models {

void MLPProjector::load(const nn::WeightBinder& w, std::int64_t in, std::int64_t out) {
  const nn::WeightBinder seq = w.child("projector");
  fc1.load(seq.child("0"), in, out);
  fc2.load(seq.child("2"), out, out);
}

Tensor MLPProjector::operator()(const Tensor& x) const { return fc2(fc1(x, {.act = ops::Activation::GELUTanh})); }

AgentProjectors::AgentProjectors(const io::WeightStore& store, const AgentProjectorsConfig& config,
                                 const nn::LoadOptions& options, const std::string& prefix)
    : config_(config) {
  // Separate binders: the four entries sit at the checkpoint's top level, next to unrelated modules,
  // so each strict check covers only its own prefix.
  const nn::WeightBinder state(store, prefix + "state_projector.", options);
  state_projector_.load(state, config.agent_state_dim, config.emb_dim);
  const nn::WeightBinder action(store, prefix + "action_projector.", options);
  action_projector_.load(action, config.agent_action_dim, config.emb_dim);
  const nn::WeightBinder pos(store, prefix + "agent_", options);
  state_pos_emb_ = pos.take("state_pos_emb", {1, config.n_obs_steps_imagen, config.emb_dim});
  action_pos_emb_ = pos.take("action_pos_emb", {1, config.action_length, config.emb_dim});
  std::string errors;
  for (const auto& [binder, what] : {std::pair{&state, "state_projector"}, std::pair{&action, "action_projector"},
                                     std::pair{&pos, "agent_*_pos_emb"}}) {
    try {
      binder->finish(what);
    } catch (const Error& e) {
      errors += errors.empty() ? e.what() : str_cat("\n", e.what());
    }
  }
  if (!errors.empty()) fail(errors);
}

Tensor AgentProjectors::embed_states(const Tensor& obs_state) const {
  // Robot states arrive in f32 whatever the weights' storage dtype.
  return ops::add(state_pos_emb_, state_projector_(ops::cast(obs_state, state_pos_emb_.dtype())));
}

Tensor AgentProjectors::embed_actions(const Tensor& action) const {
  return ops::add(action_pos_emb_, action_projector_(ops::cast(action, action_pos_emb_.dtype())));
}

AgentProjectorsConfig AgentProjectorsConfig::from_yaml(const io::YamlNode& model_params) {
  AgentProjectorsConfig c;
  c.agent_state_dim = model_params["agent_state_dim"].as_int();
  c.agent_action_dim = model_params["agent_action_dim"].as_int();
  c.n_obs_steps_imagen = model_params["n_obs_steps_imagen"].as_int();
  return c;
}

}  // namespace wma::models
