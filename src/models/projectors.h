// state_projector / action_projector (upstream MLPProjector, modules/encoders/condition.py) and
// the learned agent_state_pos_emb / agent_action_pos_emb of LatentVisualDiffusion
// (models/ddpms.py `_init_projectors`): states and actions to cross-attention tokens.
#pragma once

#include <string>

#include "io/yaml.h"
#include "nn/layers.h"

namespace wma::models {

// nn.Sequential(Linear(in, out), GELU(tanh), Linear(out, out)) at keys `projector.0` and `projector.2`.
struct MLPProjector {
  nn::Linear fc1;  // [out, in]
  nn::Linear fc2;  // [out, out]

  void load(const nn::WeightBinder& w, std::int64_t in, std::int64_t out);
  // x [..., in] -> [..., out].
  Tensor operator()(const Tensor& x) const;
};

// Fields of upstream's `model.params`; emb_dim is hard-coded 1024 upstream.
struct AgentProjectorsConfig {
  std::int64_t agent_state_dim = 16;
  std::int64_t agent_action_dim = 16;
  std::int64_t n_obs_steps_imagen = 2;  // rows of agent_state_pos_emb
  std::int64_t action_length = 16;      // rows of agent_action_pos_emb (hard-coded 16 upstream)
  std::int64_t emb_dim = 1024;

  // From `model.params` (agent_state_dim, agent_action_dim, n_obs_steps_imagen).
  static AgentProjectorsConfig from_yaml(const io::YamlNode& model_params);
};

class AgentProjectors {
 public:
  // Loads `state_projector.*`, `action_projector.*`, `agent_state_pos_emb` and
  // `agent_action_pos_emb` under `prefix` strictly.
  AgentProjectors(const io::WeightStore& store, const AgentProjectorsConfig& config,
                  const nn::LoadOptions& options = {}, const std::string& prefix = "");

  const AgentProjectorsConfig& config() const { return config_; }
  // obs_state [B, n_obs_steps_imagen, agent_state_dim] -> MLP + agent_state_pos_emb [B, n_obs, emb_dim].
  Tensor embed_states(const Tensor& obs_state) const;
  // action [B, action_length, agent_action_dim] -> MLP + agent_action_pos_emb [B, action_length, emb_dim].
  Tensor embed_actions(const Tensor& action) const;

 private:
  AgentProjectorsConfig config_;
  MLPProjector state_projector_;
  MLPProjector action_projector_;
  Tensor state_pos_emb_;   // [1, n_obs_steps_imagen, emb_dim]
  Tensor action_pos_emb_;  // [1, action_length, emb_dim]
};

}  // namespace wma::models
