#include "app/cli.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "app/device_choice.h"
#include "core/error.h"
#include "core/log.h"
#include "ops/device.h"
#include "pipeline/session.h"
#include "sampling/sampler.h"

namespace wma::app {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// As Python prints a float: 0.0, 0.7.
std::string format_default(double v) {
  std::ostringstream out;
  out << v;
  const std::string s = out.str();
  return s.find_first_of(".e") == std::string::npos ? s + ".0" : s;
}

// `text` in lines of at most `width` characters, each after the first indented by `indent` spaces.
std::string wrapped(const std::string& text, std::size_t indent, std::size_t width) {
  std::string out, line;
  std::istringstream words(text);
  for (std::string word; words >> word;) {
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      out += line + "\n" + std::string(indent, ' ');
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  return out + line;
}

}  // namespace

Flags::Flags(int argc, char** argv, FlagSpec spec) : spec_(std::move(spec)) {
  if (argc > 1) arguments_.assign(argv + 1, argv + argc);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      help_ = true;
      continue;
    }
    if (!starts_with(a, "--") || a == "--") {
      WMA_CHECK(positionals_.size() < spec_.positionals.size() && !starts_with(a, "-"), "unexpected argument '", a,
                "' (wma ", spec_.command, " -h lists the arguments)");
      positionals_.push_back(a);
      continue;
    }
    const auto eq = a.find('=');
    const FlagDef& flag = resolve(a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2));
    if (flag.name == "help") {
      help_ = true;
      continue;
    }
    auto& values = args_[flag.name];
    if (eq != std::string::npos) {
      WMA_CHECK(!flag.value.empty(), "--", flag.name, " takes no value, got '", a, "'");
      values.push_back(a.substr(eq + 1));
      continue;
    }
    if (flag.value.empty()) continue;
    WMA_CHECK(i + 1 < argc, "--", flag.name, " needs a value (", flag.value, ")");
    values.push_back(argv[++i]);
    while (flag.multi && i + 1 < argc && !starts_with(argv[i + 1], "--")) values.push_back(argv[++i]);
  }
}

// As argparse: an exact spelling wins, else the one flag that the written name is a prefix of.
const FlagDef& Flags::resolve(const std::string& written) const {
  static const FlagDef kHelp{"help", "", "show this help and exit"};
  std::vector<const FlagDef*> matches;
  std::vector<std::string> spellings;
  const auto consider = [&](const FlagDef& flag) {
    std::vector<std::string> names = flag.aliases;
    names.insert(names.begin(), flag.name);
    for (const std::string& name : names) {
      if (name == written) {
        matches.assign(1, &flag);
        spellings.assign(1, name);
        return true;
      }
      if (!starts_with(name, written)) continue;
      if (std::find(matches.begin(), matches.end(), &flag) == matches.end()) matches.push_back(&flag);
      spellings.push_back("--" + name);
    }
    return false;
  };
  if (!written.empty()) {
    if (consider(kHelp)) return kHelp;
    for (const FlagDef& flag : spec_.flags)
      if (consider(flag)) return flag;
  }
  WMA_CHECK(!matches.empty(), "unknown flag --", written, " (wma ", spec_.command, " -h lists the flags)");
  std::string candidates;
  for (const std::string& s : spellings) candidates += (candidates.empty() ? "" : ", ") + s;
  WMA_CHECK(matches.size() == 1, "ambiguous flag --", written, " could match ", candidates);
  return *matches.front();
}

std::string Flags::help_text() const {
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& [name, meaning] : spec_.positionals) rows.emplace_back(name, meaning);
  const std::size_t positional_rows = rows.size();
  rows.emplace_back("-h, --help", "show this help and exit");
  for (const FlagDef& flag : spec_.flags) {
    std::string left = "--" + flag.name;
    for (const std::string& alias : flag.aliases) left += ", --" + alias;
    if (!flag.value.empty()) left += " " + flag.value + (flag.multi ? " [" + flag.value + " ...]" : "");
    rows.emplace_back(left, flag.help + (flag.fallback.empty() ? "" : " (default: " + flag.fallback + ")"));
  }
  constexpr std::size_t kColumn = 30, kWidth = 110;
  std::string out = "usage: wma " + spec_.command + " " + spec_.synopsis + "\n";
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (r == 0 && positional_rows > 0) out += "\npositional arguments:\n";
    if (r == positional_rows) out += "\noptions:\n";
    const auto& [left, right] = rows[r];
    out += "  " + left;
    out += left.size() + 2 < kColumn ? std::string(kColumn - left.size() - 2, ' ') : "\n" + std::string(kColumn, ' ');
    out += wrapped(right, kColumn, kWidth - kColumn) + "\n";
  }
  if (!spec_.notes.empty()) out += "\n" + spec_.notes;
  return out;
}

bool print_help(const Flags& f) {
  if (!f.help()) return false;
  std::fputs(f.help_text().c_str(), stdout);
  return true;
}

FlagDef config_flag(const std::string& what) { return {"config", "<yaml>", what}; }
FlagDef ckpt_flag() { return {"ckpt_path", "<ckpt|safetensors>", "the model's checkpoint"}; }
FlagDef demo_weights_flag() {
  return {"demo_weights", "", "deterministic weights instead of a checkpoint (videos are noise)"};
}
FlagDef clip_vocab_flag() {
  return {"clip_vocab",
          "<file>",
          "OpenCLIP's bpe_simple_vocab_16e6.txt.gz (default: $WMA_BPE_PATH, else next to --ckpt_path, else in an "
          "installed open_clip package)",
          "",
          false,
          {"clip-vocab", "bpe_path"}};
}
FlagDef device_flag(const std::string& fallback) { return {"device", "cpu|cuda", "where the model runs", fallback}; }
FlagDef precision_flag(const std::string& fallback) {
  return {"precision", "fp32|fp16|bf16", "storage type of weights and activations on cuda", fallback};
}
FlagDef noise_flag() {
  return {"noise", "torch|fast",
          "random draws: torch is upstream's torch.randn streams for --seed, fast a seeded Philox stream", "torch"};
}
FlagDef noise_file_flag() { return {"noise_file", "<safetensors>", "replay recorded draws instead of --noise"}; }
FlagDef sampler_flag() {
  return {"sampler", "ddim|dpmpp_2m|unipc",
          "ddim: upstream's DDIM; dpmpp_2m: DPM-Solver++(2M); unipc: UniPC (bh2, order 2) (docs/sampling.md)", "ddim"};
}
FlagDef quiet_flag() { return {"quiet", "", "no progress bars"}; }

std::vector<FlagDef> sampling_flags(int default_steps, const std::string& default_spacing,
                                    double default_guidance_rescale) {
  return {
      {"height", "N", "video height in pixels, a multiple of 16 equal to the model's", "320"},
      {"width", "N", "video width in pixels, a multiple of 16 equal to the model's", "512"},
      sampler_flag(),
      {"ddim_steps", "N", "denoising steps (model evaluations) per sampling pass, for every sampler",
       std::to_string(default_steps)},
      {"ddim_eta", "X", "DDIM eta (1: fresh noise at every step); ddim only, the other samplers are ODE solvers",
       "1.0"},
      {"timestep_spacing", "uniform|uniform_trailing", "how the DDIM timesteps are spread", default_spacing},
      {"video_length", "N", "frames per video, the model's temporal_length", "16"},
      {"unconditional_guidance_scale", "X", "classifier-free guidance scale (1: none)", "1.0"},
      {"guidance_rescale", "X", "guidance rescale factor", format_default(default_guidance_rescale)},
      {"seed", "N", "random seed", "123"},
  };
}

std::string Flags::str(const std::string& n, const std::string& fallback) const {
  return has(n) && !args_.at(n).empty() ? args_.at(n).back() : fallback;
}

std::string Flags::required(const std::string& n) const {
  WMA_CHECK(has(n), "missing --", n, " (wma ", spec_.command, " -h lists the flags)");
  return str(n);
}

long long Flags::integer(const std::string& n, long long fallback) const {
  return has(n) ? to_int(n, str(n)) : fallback;
}

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

std::vector<std::string> Flags::strs(const std::string& n) const {
  return has(n) ? args_.at(n) : std::vector<std::string>{};
}

long long Flags::to_int(const std::string& n, const std::string& v) const {
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  WMA_CHECK(!v.empty() && *end == '\0', "--", n, " expects an integer, got '", v, "'");
  return x;
}

std::string find_bpe(const Flags& f) {
  static const char* const kName = "bpe_simple_vocab_16e6.txt.gz";
  if (f.has("clip_vocab")) return f.str("clip_vocab");
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
  WMA_CHECK(!path.empty(), "OpenCLIP's vocabulary bpe_simple_vocab_16e6.txt.gz not found: pass --clip_vocab, set ",
            "WMA_BPE_PATH, put it next to the checkpoint, or install open_clip");
  return path;
}

std::pair<std::int64_t, std::int64_t> checked_video_size(const Flags& f, const pipeline::WorldModelConfig& config,
                                                         bool heads) {
  const std::int64_t height = f.integer("height", 320), width = f.integer("width", 512);
  WMA_CHECK(height % 16 == 0 && width % 16 == 0, "image size ", height, "x", width, " must be multiples of 16");
  WMA_CHECK(height == config.video_height() && width == config.video_width(), "--height ", height, " --width ", width,
            " do not match the model of ", config.source, ", which generates ", config.video_height(), "x",
            config.video_width(), " (pass --height ", config.video_height(), " --width ", config.video_width(), ")");
  WMA_CHECK(!heads || (height == config.obs_image_height && width == config.obs_image_width), "the action heads of ",
            config.source, " take ", config.obs_image_height, "x", config.obs_image_width, " observations, not ",
            height, "x", width);
  return {height, width};
}

pipeline::PassOptions pass_options(const Flags& f, const pipeline::WorldModelConfig& config, int default_steps,
                                   const std::string& default_spacing, double default_guidance_rescale) {
  pipeline::PassOptions pass;
  pass.sampler = sampling::parse_sampler(f.str("sampler", "ddim"));
  pass.ddim_steps = static_cast<int>(f.integer("ddim_steps", default_steps));
  pass.ddim_eta = f.real("ddim_eta", 1.0);
  // Upstream's run scripts pass --ddim_eta 1.0; say once that it does nothing here rather than refuse them.
  if (pass.sampler != sampling::SamplerKind::Ddim && f.has("ddim_eta") && pass.ddim_eta != 0.0)
    log_info("[sampling] ", sampling::sampler_name(pass.sampler),
             " is deterministic: --ddim_eta applies to ddim only and is ignored");
  pass.timestep_spacing = sampling::parse_timestep_spacing(f.str("timestep_spacing", default_spacing));
  pass.video_length = static_cast<int>(f.integer("video_length", 16));
  pass.unconditional_guidance_scale = f.real("unconditional_guidance_scale", 1.0);
  pass.guidance_rescale = f.real("guidance_rescale", default_guidance_rescale);
  WMA_CHECK(pass.ddim_steps >= 1, "--ddim_steps must be positive (upstream's DDPM fallback is not offered)");
  WMA_CHECK(pass.video_length == config.wma.unet.temporal_length, "--video_length ", pass.video_length,
            " differs from the model's temporal_length ", config.wma.unet.temporal_length);
  return pass;
}

TimedConfig load_config(const std::string& path) {
  const auto start = std::chrono::steady_clock::now();
  TimedConfig c{pipeline::WorldModelConfig::load(path), 0.0};
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return c;
}

LoadedModel build_model(const std::function<std::unique_ptr<io::WeightStore>()>& open_store,
                        const pipeline::WorldModelConfig& config, nn::LoadOptions options, pipeline::Profiler& profiler,
                        double config_seconds) {
  nn::LoadTimings timings;
  options.timings = &timings;
  const auto start = std::chrono::steady_clock::now();
  LoadedModel loaded;
  std::unique_ptr<io::WeightStore> store = open_store();
  const double open_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  loaded.model = std::make_unique<pipeline::WorldModel>(*store, config, options);
  store.reset();
  pipeline::synchronize_device(options.device);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // With the checkpoint's mapping released, what stays is the model (on the CPU) or almost nothing (on a GPU).
  profiler.set_reading("host_resident_after_loading", pipeline::resident_host_memory_bytes());
  profiler.add("model_loading", config_seconds + seconds);
  profiler.sample_gpu_memory();
  profiler.add("model_loading/config", config_seconds);
  profiler.add("model_loading/checkpoint", open_seconds + timings.checkpoint_s);
  if (options.device != Device::CPU) profiler.add("model_to_cuda", timings.to_device_s);
  return loaded;
}

LoadedModel load_model(const Flags& f, const pipeline::WorldModelConfig& config, const nn::LoadOptions& options,
                       pipeline::Profiler& profiler, double config_seconds) {
  std::function<std::unique_ptr<io::WeightStore>()> open_store;
  if (f.has("ckpt_path")) {
    WMA_CHECK(!f.has("demo_weights"), "--ckpt_path and --demo_weights exclude each other");
    WMA_CHECK(std::filesystem::exists(f.str("ckpt_path")), "checkpoint ", f.str("ckpt_path"), " not found");
    open_store = [&] { return std::make_unique<io::WeightStore>(io::WeightStore::open(f.str("ckpt_path"))); };
  } else {
    WMA_CHECK(f.has("demo_weights"), "no --ckpt_path given (pass --demo_weights to run on deterministic weights)");
    open_store = [&] { return std::make_unique<io::WeightStore>(pipeline::deterministic_world_model_store(config)); };
  }
  return build_model(open_store, config, options, profiler, config_seconds);
}

namespace {
std::string g_version = "unknown", g_commit = "unknown";
}  // namespace

void set_build_identity(std::string version, std::string commit) {
  g_version = std::move(version);
  g_commit = std::move(commit);
}

io::json::Object run_record(const Flags& f, const nn::LoadOptions& options, std::int64_t seed) {
  io::json::Array arguments;
  for (const std::string& a : f.arguments()) arguments.emplace_back(a);
  const char* precision = options.dtype == DType::F16 ? "fp16" : options.dtype == DType::BF16 ? "bf16" : "fp32";
  io::json::Object run{{"command", f.command()},
                       {"arguments", std::move(arguments)},
                       {"seed", seed},
                       {"device", std::string(device_name(options.device))},
                       {"precision", precision}};
  if (options.device != Device::CPU) run.emplace_back("gpu", ops::device_description(options.device));
  run.emplace_back("version", g_version);
  run.emplace_back("commit", g_commit);
  run.emplace_back("build", build_features());
  return run;
}

std::unique_ptr<pipeline::NoiseSource> make_noise(const Flags& f, std::int64_t seed, std::uint64_t construction_draws,
                                                  pipeline::GpuGeometry gpu) {
  const std::string kind = f.str("noise", "torch");
  WMA_CHECK(kind == "torch" || kind == "fast", "--noise expects torch or fast, got '", kind, "'");
  if (f.has("noise_file")) return pipeline::RecordedNoise::from_pass_fixture(f.str("noise_file"));
  if (kind == "torch") return std::make_unique<pipeline::TorchNoise>(seed, construction_draws, gpu);
  return std::make_unique<pipeline::PhiloxNoise>(static_cast<std::uint64_t>(seed));
}

}  // namespace wma::app
