// `wma demo`: the interaction loop of upstream's scripts/evaluation/world_model_interaction.py on a built-in
// small model (the architecture at the fixtures' tiny sizes, deterministic weights) and a synthetic scene,
// so the whole pipeline can be seen working without a checkpoint or example data.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "app/commands.h"
#include "core/error.h"
#include "pipeline/demo.h"
#include "pipeline/session.h"
#include "pipeline/synthesis.h"

namespace wma::app {
namespace {

constexpr const char* kUsage =
    "usage: wma demo [--savedir wma_demo] [--n_iter 2] [--ddim_steps 4] [--seed 123] [--save_fps 8]\n"
    "                [--device cpu|cuda] [--precision fp32|fp16|bf16] [--quiet]\n";

int to_int(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  const long x = std::strtol(v.c_str(), &end, 10);
  WMA_CHECK(!v.empty() && *end == '\0', "--", flag, " expects an integer, got '", v, "'");
  return static_cast<int>(x);
}

}  // namespace

int cmd_demo(int argc, char** argv) {
  std::string savedir = "wma_demo", device = "cpu", precision = "fp32";
  int n_iter = 2, ddim_steps = 4, seed = 123, save_fps = 8;
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--quiet") {
      quiet = true;
      continue;
    }
    WMA_CHECK(i + 1 < argc, "unexpected or incomplete argument '", a, "'\n", kUsage);
    const std::string v = argv[++i];
    if (a == "--savedir") savedir = v;
    else if (a == "--device") device = v;
    else if (a == "--precision") precision = v;
    else if (a == "--n_iter") n_iter = to_int("n_iter", v);
    else if (a == "--ddim_steps") ddim_steps = to_int("ddim_steps", v);
    else if (a == "--seed") seed = to_int("seed", v);
    else if (a == "--save_fps") save_fps = to_int("save_fps", v);
    else fail("unknown flag ", a, "\n", kUsage);
  }
  WMA_CHECK(n_iter >= 1 && ddim_steps >= 1, "--n_iter and --ddim_steps must be positive");
  using namespace pipeline;

  const nn::LoadOptions options = select_device(device, precision);
  Profiler profiler([d = options.device] { synchronize_device(d); });
  const WorldModelConfig config = demo_config();
  const models::ClipTokenizer tokenizer = demo_tokenizer();
  std::fprintf(stderr, "wma demo: UnifoLM-WMA-0 architecture at demo size (%lldx%lld video, %d frames), "
                       "deterministic weights, synthetic scene\n",
               static_cast<long long>(config.video_height()), static_cast<long long>(config.video_width()),
               config.wma.unet.temporal_length);
  std::unique_ptr<io::WeightStore> store;
  std::unique_ptr<WorldModel> model;
  {
    const auto timer = Profiler::scope(&profiler, "model_loading");
    store = std::make_unique<io::WeightStore>(deterministic_world_model_store(config));
    model = std::make_unique<WorldModel>(*store, config, options);
  }
  const DemoScene scene = make_demo_scene(config.video_height(), config.video_width(),
                                          config.projectors.agent_state_dim);

  SessionSettings settings;
  settings.savedir = savedir;
  settings.frame_strides = {4};
  settings.save_fps = save_fps;
  settings.loop.pass.ddim_steps = ddim_steps;
  settings.loop.pass.timestep_spacing = sampling::TimestepSpacing::UniformTrailing;
  settings.loop.pass.video_length = config.wma.unet.temporal_length;
  settings.loop.n_iter = n_iter;
  settings.loop.exe_steps = settings.loop.pass.video_length;
  settings.loop.progress = !quiet;
  EpisodeJob job{"0", 30.0, {scene.image, scene.state, scene.instruction, scene.state_dim, scene.action_dim}, {}};

  PhiloxNoise noise(static_cast<std::uint64_t>(seed));
  Synthesizer synth(*model, tokenizer, settings.loop.pass);
  const std::vector<std::string> written = run_session(synth, {job}, settings, noise, profiler);
  for (const std::string& file : written)
    if (file.find(".mp4") != std::string::npos || file.find("_frames") != std::string::npos ||
        file.find("_actions_fs") != std::string::npos)
      std::fprintf(stderr, "  %s\n", file.c_str());
  std::fprintf(stderr, "wrote %zu files under %s/inference; profile: %s\n", written.size(), savedir.c_str(),
               report_profile(savedir, profiler).c_str());
  return 0;
}

}  // namespace wma::app
