#include "app/cli.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "core/error.h"

namespace wma::app {
namespace {
bool contains(const std::vector<std::string>& list, const std::string& name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}
}  // namespace

Flags::Flags(int argc, char** argv, FlagSpec spec) : spec_(std::move(spec)) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    WMA_CHECK(a.rfind("--", 0) == 0, "unexpected argument '", a, "'\n", spec_.usage);
    a = a.substr(2);
    std::string value;
    const auto eq = a.find('=');
    if (eq != std::string::npos) value = a.substr(eq + 1), a = a.substr(0, eq);
    WMA_CHECK(a == "help" || contains(spec_.known, a), "unknown flag --", a, "\n", spec_.usage);
    auto& values = args_[a];
    if (eq != std::string::npos) {
      values.push_back(value);
      continue;
    }
    if (a == "help" || contains(spec_.switches, a)) continue;
    WMA_CHECK(i + 1 < argc, "--", a, " needs a value");
    values.push_back(argv[++i]);
    while (contains(spec_.multi, a) && i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0)
      values.push_back(argv[++i]);
  }
}

std::string Flags::str(const std::string& n, const std::string& fallback) const {
  return has(n) && !args_.at(n).empty() ? args_.at(n).back() : fallback;
}

std::string Flags::required(const std::string& n) const {
  WMA_CHECK(has(n), "missing --", n, "\n", spec_.usage);
  return str(n);
}

long long Flags::integer(const std::string& n, long long fallback) const { return has(n) ? to_int(n, str(n)) : fallback; }

double Flags::real(const std::string& n, double fallback) const {
  if (!has(n)) return fallback;
  const std::string v = str(n);
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  WMA_CHECK(!v.empty() && *end == '\0', "--", n, " expects a number, got '", v, "'");
  return x;
}

std::vector<std::int64_t> Flags::integers(const std::string& n, std::int64_t fallback) const {
  if (!has(n)) return {fallback};
  std::vector<std::int64_t> out;
  for (const std::string& v : args_.at(n)) out.push_back(to_int(n, v));
  return out;
}

long long Flags::to_int(const std::string& n, const std::string& v) const {
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  WMA_CHECK(!v.empty() && *end == '\0', "--", n, " expects an integer, got '", v, "'");
  return x;
}

std::string find_bpe(const Flags& f) {
  static const char* const kName = "bpe_simple_vocab_16e6.txt.gz";
  if (f.has("clip-vocab")) return f.str("clip-vocab");
  if (f.has("bpe_path")) return f.str("bpe_path");
  if (const char* env = std::getenv("WMA_BPE_PATH")) return env;
  std::vector<std::filesystem::path> candidates;
  if (f.has("ckpt_path")) candidates.push_back(std::filesystem::path(f.str("ckpt_path")).parent_path() / kName);
  std::vector<std::filesystem::path> roots = {"/usr/local/lib", "/usr/lib"};
  if (const char* home = std::getenv("HOME")) roots.push_back(std::filesystem::path(home) / ".local/lib");
  if (const char* venv = std::getenv("VIRTUAL_ENV")) roots.push_back(std::filesystem::path(venv) / "lib");
  std::error_code ec;
  for (const auto& root : roots) {
    for (const auto& python : std::filesystem::directory_iterator(root, ec)) {
      if (python.path().filename().string().rfind("python3", 0) != 0) continue;
      for (const char* packages : {"site-packages", "dist-packages"})
        candidates.push_back(python.path() / packages / "open_clip" / kName);
    }
  }
  for (const auto& candidate : candidates)
    if (std::filesystem::exists(candidate, ec)) return candidate.string();
  return {};
}

std::string require_bpe(const Flags& f) {
  const std::string path = find_bpe(f);
  WMA_CHECK(!path.empty(), "OpenCLIP's vocabulary bpe_simple_vocab_16e6.txt.gz not found: pass --clip-vocab (or ",
            "--bpe_path), set WMA_BPE_PATH, put it next to the checkpoint, or install open_clip");
  return path;
}

std::pair<std::int64_t, std::int64_t> checked_video_size(const Flags& f, const pipeline::WorldModelConfig& config,
                                                         bool heads) {
  const std::int64_t height = f.integer("height", 320), width = f.integer("width", 512);
  WMA_CHECK(height % 16 == 0 && width % 16 == 0, "image size ", height, "x", width, " must be multiples of 16");
  WMA_CHECK(height == config.video_height() && width == config.video_width(), "--height ", height, " --width ",
            width, " do not match the model of ", config.source, ", which generates ", config.video_height(), "x",
            config.video_width(), " (pass --height ", config.video_height(), " --width ", config.video_width(), ")");
  WMA_CHECK(!heads || (height == config.obs_image_height && width == config.obs_image_width), "the action heads of ",
            config.source, " take ", config.obs_image_height, "x", config.obs_image_width, " observations, not ",
            height, "x", width);
  return {height, width};
}

pipeline::PassOptions pass_options(const Flags& f, const pipeline::WorldModelConfig& config, int default_steps,
                                   const std::string& default_spacing, double default_guidance_rescale) {
  pipeline::PassOptions pass;
  pass.ddim_steps = static_cast<int>(f.integer("ddim_steps", default_steps));
  pass.ddim_eta = f.real("ddim_eta", 1.0);
  pass.timestep_spacing = sampling::parse_timestep_spacing(f.str("timestep_spacing", default_spacing));
  pass.video_length = static_cast<int>(f.integer("video_length", 16));
  pass.unconditional_guidance_scale = f.real("unconditional_guidance_scale", 1.0);
  pass.guidance_rescale = f.real("guidance_rescale", default_guidance_rescale);
  WMA_CHECK(pass.ddim_steps >= 1, "--ddim_steps must be positive (upstream's DDPM fallback is not offered)");
  WMA_CHECK(pass.video_length == config.wma.unet.temporal_length, "--video_length ", pass.video_length,
            " differs from the model's temporal_length ", config.wma.unet.temporal_length);
  return pass;
}

LoadedModel load_model(const Flags& f, const pipeline::WorldModelConfig& config, const nn::LoadOptions& options,
                       pipeline::Profiler& profiler) {
  const auto timer = pipeline::Profiler::scope(&profiler, "model_loading");
  LoadedModel loaded;
  if (f.has("ckpt_path")) {
    WMA_CHECK(!f.has("demo_weights"), "--ckpt_path and --demo_weights exclude each other");
    WMA_CHECK(std::filesystem::exists(f.str("ckpt_path")), "checkpoint ", f.str("ckpt_path"), " not found");
    loaded.store = std::make_unique<io::WeightStore>(io::WeightStore::open(f.str("ckpt_path")));
  } else {
    WMA_CHECK(f.has("demo_weights"), "no --ckpt_path given (pass --demo_weights to run on deterministic weights)");
    loaded.store = std::make_unique<io::WeightStore>(pipeline::deterministic_world_model_store(config));
  }
  loaded.model = std::make_unique<pipeline::WorldModel>(*loaded.store, config, options);
  return loaded;
}

std::unique_ptr<pipeline::NoiseSource> make_noise(const Flags& f, std::int64_t seed, std::uint64_t construction_draws,
                                                  int sm_count) {
  const std::string kind = f.str("noise", "torch");
  WMA_CHECK(kind == "torch" || kind == "fast", "--noise expects torch or fast, got '", kind, "'");
  if (f.has("noise_file")) return pipeline::RecordedNoise::from_pass_fixture(f.str("noise_file"));
  if (kind == "torch") return std::make_unique<pipeline::TorchNoise>(seed, construction_draws, sm_count);
  return std::make_unique<pipeline::PhiloxNoise>(static_cast<std::uint64_t>(seed));
}

}  // namespace wma::app
