// What the commands that follow an upstream script share (`wma interact`, `wma generate`): flags as its
// argparse takes them (--name value, --name=value, switches, several values for nargs='+'), the OpenCLIP
// vocabulary lookup, and the model and noise source that the common flags select.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/weight_store.h"
#include "pipeline/noise.h"
#include "pipeline/profile.h"
#include "pipeline/world_model.h"

namespace wma::app {

struct FlagSpec {
  const char* usage = "";                 // appended to parse errors
  std::vector<std::string> switches;      // flags without a value
  std::vector<std::string> multi_valued;  // flags taking every following non-flag argument
  std::vector<std::string> known;         // every accepted flag besides --help (switches included)
};

class Flags {
 public:
  Flags(int argc, char** argv, FlagSpec spec);
  bool has(const std::string& name) const { return args_.count(name) != 0; }
  std::string str(const std::string& name, const std::string& fallback = "") const;
  std::string required(const std::string& name) const;
  long long integer(const std::string& name, long long fallback) const;
  double real(const std::string& name, double fallback) const;
  std::vector<std::int64_t> integers(const std::string& name, std::int64_t fallback) const;
  // Throws naming the first flag that is not in spec.known.
  void check_known() const;

 private:
  long long to_int(const std::string& name, const std::string& value) const;
  FlagSpec spec_;
  std::map<std::string, std::vector<std::string>> args_;
};

// OpenCLIP's vocabulary is not in the checkpoint. Looked for, in order: --clip-vocab / --bpe_path,
// $WMA_BPE_PATH, next to --ckpt_path, then inside an installed open_clip Python package.
std::string find_clip_vocab(const Flags& flags);

struct LoadedModel {
  std::unique_ptr<io::WeightStore> store;  // the model reads from it
  std::unique_ptr<pipeline::WorldModel> model;
};
// --ckpt_path, or deterministic weights with --demo_weights; timed as "model_loading".
LoadedModel load_model(const Flags& flags, const pipeline::WorldModelConfig& config, const nn::LoadOptions& options,
                       pipeline::Profiler& profiler);

// --noise_file (recorded draws), else --noise torch (default: upstream's torch streams) or fast, seeded.
std::unique_ptr<pipeline::NoiseSource> make_noise(const Flags& flags, std::int64_t seed);

}  // namespace wma::app
