// Flag parsing shared by the subcommands: upstream's argparse conventions (--name value, --name=value, switches,
// several values for nargs='+' flags, unambiguous prefixes of long flags, -h/--help), with every unknown or
// ambiguous flag an error.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/json.h"
#include "io/weight_store.h"
#include "pipeline/noise.h"
#include "pipeline/profile.h"
#include "pipeline/synthesis.h"
#include "pipeline/world_model.h"

namespace wma::app {

struct FlagDef {
  std::string name;                       // without the leading "--"; the key of Flags::has/str
  std::string value;                      // placeholder in the help ("N", "<yaml>"); empty: a switch
  std::string help;                       // what it means
  std::string fallback = "";              // the default the help shows; empty: none
  bool multi = false;                     // one or more values (argparse nargs='+')
  std::vector<std::string> aliases = {};  // other accepted spellings
};

struct FlagSpec {
  std::string command;   // "interact": named in the help and in errors
  std::string synopsis;  // usage lines after "usage: wma <command> "
  std::vector<FlagDef> flags;
  std::vector<std::pair<std::string, std::string>> positionals = {};  // {name, meaning}, in order
  std::string notes = "";                                             // printed after the flags
};

class Flags {
 public:
  Flags(int argc, char** argv, FlagSpec spec);
  bool has(const std::string& n) const { return args_.count(n) != 0; }
  std::string str(const std::string& n, const std::string& fallback = "") const;
  std::string required(const std::string& n) const;
  long long integer(const std::string& n, long long fallback) const;
  double real(const std::string& n, double fallback) const;
  std::vector<std::int64_t> integers(const std::string& n, std::int64_t fallback) const;
  // Every value of a multi flag (empty when absent).
  std::vector<std::string> strs(const std::string& n) const;
  const std::vector<std::string>& positionals() const { return positionals_; }
  // -h or --help was given: the command prints help_text() to stdout and exits 0 without checking anything.
  bool help() const { return help_; }
  const std::string& command() const { return spec_.command; }
  // The command line after the command's name, as given.
  const std::vector<std::string>& arguments() const { return arguments_; }
  std::string help_text() const;

 private:
  const FlagDef& resolve(const std::string& written) const;
  long long to_int(const std::string& n, const std::string& v) const;
  FlagSpec spec_;
  bool help_ = false;
  std::map<std::string, std::vector<std::string>> args_;
  std::vector<std::string> positionals_;
  std::vector<std::string> arguments_;
};

// Prints the help of `f` to stdout when it was asked for; the command then returns 0.
bool print_help(const Flags& f);

// Flags several commands share, with the defaults the functions below apply.
FlagDef config_flag(const std::string& what);
FlagDef ckpt_flag();
FlagDef demo_weights_flag();
FlagDef clip_vocab_flag();
FlagDef device_flag(const std::string& fallback);
FlagDef precision_flag(const std::string& fallback);
FlagDef noise_flag();
FlagDef noise_file_flag();
FlagDef quiet_flag();
FlagDef sampler_flag();
// --height --width --sampler --ddim_steps --ddim_eta --timestep_spacing --video_length --unconditional_guidance_scale
// --guidance_rescale --seed, with the defaults given to pass_options.
std::vector<FlagDef> sampling_flags(int default_steps, const std::string& default_spacing,
                                    double default_guidance_rescale);

// OpenCLIP's vocabulary (not in the checkpoint): --clip_vocab (alias --bpe_path), $WMA_BPE_PATH, next to the
// checkpoint (--ckpt_path), then inside an installed open_clip Python package. Empty when not found.
std::string find_bpe(const Flags& f);
// find_bpe, or an error saying where the vocabulary was looked for.
std::string require_bpe(const Flags& f);

// --height/--width (default 320x512): multiples of 16 that the model generates and, with `heads`, that its
// action heads take as observations. Returns {height, width}.
std::pair<std::int64_t, std::int64_t> checked_video_size(const Flags& f, const pipeline::WorldModelConfig& config,
                                                         bool heads);
// Upstream's sampling flags and ours (--sampler --ddim_steps --ddim_eta --timestep_spacing --video_length
// --unconditional_guidance_scale --guidance_rescale) with each script's own defaults, checked against the model.
pipeline::PassOptions pass_options(const Flags& f, const pipeline::WorldModelConfig& config, int default_steps,
                                   const std::string& default_spacing, double default_guidance_rescale);

// The store the model was built from is gone by then: a CPU model's zero-copy weights hold their file mapping
// themselves, and on CUDA nothing of it stays on the host (issue 15: host memory after loading).
struct LoadedModel {
  std::unique_ptr<pipeline::WorldModel> model;
};
// A config as read from its yaml, with the seconds that took (the profile's model_loading/config).
struct TimedConfig {
  pipeline::WorldModelConfig config;
  double seconds = 0;
};
TimedConfig load_config(const std::string& path);

// The model built from the store `open_store` returns, timed as "model_loading" (config_seconds included) and
// split into "model_loading/config", "model_loading/checkpoint" (reading or generating the weights and
// converting them on the host) and, on a GPU, "model_to_cuda" (the uploads).
LoadedModel build_model(const std::function<std::unique_ptr<io::WeightStore>()>& open_store,
                        const pipeline::WorldModelConfig& config, nn::LoadOptions options, pipeline::Profiler& profiler,
                        double config_seconds);
// build_model from --ckpt_path, or from deterministic weights with --demo_weights.
LoadedModel load_model(const Flags& flags, const pipeline::WorldModelConfig& config, const nn::LoadOptions& options,
                       pipeline::Profiler& profiler, double config_seconds);

// Recorded once by main(): the engine's version and commit, for the profile's "run".
void set_build_identity(std::string version, std::string commit);
// The profile JSON's "run": command, arguments, seed, device, the GPU's description, precision, engine version,
// commit and build features.
io::json::Object run_record(const Flags& flags, const nn::LoadOptions& options, std::int64_t seed);

// --noise_file (recorded draws), else --noise torch (default: upstream's torch streams, the CPU one moved past
// `construction_draws`) or fast, seeded; `gpu` is the GPU's (pipeline::gpu_geometry).
std::unique_ptr<pipeline::NoiseSource> make_noise(const Flags& flags, std::int64_t seed,
                                                  std::uint64_t construction_draws, pipeline::GpuGeometry gpu);

}  // namespace wma::app
