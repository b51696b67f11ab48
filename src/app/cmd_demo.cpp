// `wma demo`: the interaction loop of upstream's scripts/evaluation/world_model_interaction.py on a built-in
// small model (the architecture at the fixtures' tiny sizes, deterministic weights) and a synthetic scene,
// so the whole pipeline can be seen working without a checkpoint or example data.
#include <chrono>
#include <cstdio>
#include <string>

#include "app/cli.h"
#include "app/commands.h"
#include "app/device_choice.h"
#include "core/error.h"
#include "pipeline/demo.h"
#include "pipeline/session.h"
#include "pipeline/synthesis.h"

namespace wma::app {
namespace {

FlagSpec flag_spec() {
  return {"demo",
          "[options]",
          {{"savedir", "<dir>", "where videos, plots and the profile are written", "wma_demo"},
           {"n_iter", "N", "interaction iterations", "2"},
           {"ddim_steps", "N", "DDIM steps per sampling pass", "4"},
           {"seed", "N", "seed of the Philox noise", "123"},
           {"save_fps", "N", "frame rate of the saved videos", "8"},
           auto_device_flag(),
           auto_precision_flag(),
           quiet_flag()},
          {},
          "The weights are deterministic, not trained: the videos show noise, not a robot.\n"};
}

}  // namespace

int cmd_demo(int argc, char** argv) {
  const Flags f(argc, argv, flag_spec());
  if (print_help(f)) return 0;
  const std::string savedir = f.str("savedir", "wma_demo");
  const int n_iter = static_cast<int>(f.integer("n_iter", 2)),
            ddim_steps = static_cast<int>(f.integer("ddim_steps", 4));
  const long long seed = f.integer("seed", 123);
  const int save_fps = static_cast<int>(f.integer("save_fps", 8));
  const bool quiet = f.has("quiet");
  WMA_CHECK(n_iter >= 1 && ddim_steps >= 1, "--n_iter and --ddim_steps must be positive");
  using namespace pipeline;

  const DeviceChoice choice = choose_device(f, gpu_usable());
  const nn::LoadOptions options = select_device(choice.device, choice.precision);
  std::fprintf(stderr, "%s\n", startup_line("demo", choice, gpu_description(options.device)).c_str());
  Profiler profiler = device_profiler(options.device);
  profiler.set_run(run_record(f, options, seed));
  const auto config_start = std::chrono::steady_clock::now();
  const WorldModelConfig config = demo_config();
  const double config_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - config_start).count();
  const models::ClipTokenizer tokenizer = demo_tokenizer();
  std::fprintf(stderr,
               "wma demo: UnifoLM-WMA-0 architecture at demo size (%lldx%lld video, %d frames), "
               "deterministic weights, synthetic scene\n",
               static_cast<long long>(config.video_height()), static_cast<long long>(config.video_width()),
               config.wma.unet.temporal_length);
  const LoadedModel loaded =
      build_model([&] { return std::make_unique<io::WeightStore>(deterministic_world_model_store(config)); }, config,
                  options, profiler, config_seconds);
  const DemoScene scene =
      make_demo_scene(config.video_height(), config.video_width(), config.projectors.agent_state_dim);

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
  EpisodeJob job{"0", 30.0, {scene.image, scene.state, scene.instruction, scene.state_dim, scene.action_dim}, {}, {}};
  job.labels.dataset = "demo (synthetic scene)";

  PhiloxNoise noise(static_cast<std::uint64_t>(seed));
  Synthesizer synth(*loaded.model, tokenizer, settings.loop.pass);
  const std::vector<std::string> written = run_session(synth, {job}, settings, noise, profiler);
  for (const std::string& file : written)
    if (file.find(".mp4") != std::string::npos || file.find("_frames") != std::string::npos ||
        file.find("_actions_fs") != std::string::npos || file.find("_states_fs") != std::string::npos)
      std::fprintf(stderr, "  %s\n", file.c_str());
  std::fprintf(stderr, "wrote %zu files under %s/inference; profile: %s\n", written.size(), savedir.c_str(),
               report_profile(savedir, profiler).c_str());
  return 0;
}

}  // namespace wma::app
