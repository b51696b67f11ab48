// How far upstream's model construction moves torch's CPU generator. world_model_interaction.py calls
// seed_everything(seed) and then builds LatentVisualDiffusion: every parameter initialisation (nn.Linear and
// nn.Conv*'s kaiming_uniform_, open_clip's normal_ re-initialisation, torchvision's kaiming_normal_, the
// torch.randn latents, ...) draws from the CPU generator before the checkpoint overwrites the values, so the
// first VAE posterior noise comes from a generator that has moved on by these counts (docs/rng.md).
//
// The counts mirror upstream's constructors (and open_clip 2.22's, torchvision's ResNet18) module by module,
// with ATen's CPU consumption per init (tools/rng/construction_draws.py derives the same rules from a trace
// and checks them against torch's own generator): a float32 uniform_ takes one mt19937 output per element;
// a float32 normal_/randn of 16 or more contiguous elements takes one per element plus 16 when the count is
// not a multiple of 16. Smaller normal draws (ATen's scalar path, whose cached sample makes the order matter)
// never occur in the supported configurations and are refused.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/yaml.h"
#include "models/model_config.h"

namespace wma::models {

struct ConstructionDraws {
  struct Part {
    std::string name;  // upstream module, e.g. "first_stage_model", "heads" (action_unet and state_unet)
    std::uint64_t outputs = 0;
  };
  std::vector<Part> parts;  // in upstream's construction order

  std::uint64_t total() const;
  std::uint64_t of(const std::string& name) const;  // fails for an unknown part
};

// mt19937 outputs LatentVisualDiffusion's constructor consumes for the inference yaml `root` (read as
// WmaConfig::from_yaml reads it, with the heads' observation shapes `obs`). No scalar-path normal draws
// happen, so the generator's cached normal sample is left as it was.
ConstructionDraws upstream_construction_draws(const io::YamlNode& root, const ObsShapeMeta& obs);

}  // namespace wma::models
