// `wma interact`: upstream's scripts/evaluation/world_model_interaction.py with the same flags (names and meanings,
// docs/upstream.md#default-interaction-run), plus --device, --precision, --demo_weights (deterministic weights when
// there is no checkpoint), --clip_vocab and --noise_file (replay recorded draws instead of the seeded generator).
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app/cli.h"
#include "app/commands.h"
#include "app/device_choice.h"
#include "core/error.h"
#include "pipeline/example_data.h"
#include "pipeline/session.h"
#include "pipeline/synthesis.h"
#include "pipeline/world_model.h"

namespace wma::app {
namespace {

FlagSpec flag_spec() {
  FlagSpec spec{"interact",
                "--config <yaml> (--ckpt_path <ckpt|safetensors> | --demo_weights)\n"
                "                    --prompt_dir <dir> --dataset <name> --savedir <dir> [options]",
                {config_flag("the model's yaml (upstream's configs/inference/world_model_interaction.yaml)"),
                 ckpt_flag(),
                 demo_weights_flag(),
                 {"prompt_dir", "<dir>", "prompts laid out like upstream's examples/world_model_interaction_prompts"},
                 {"dataset", "<name>", "the dataset of <prompt_dir>/<name>.csv whose episodes are run"},
                 {"savedir", "<dir>", "where videos, plots and the profile are written"},
                 {"frame_stride", "N", "frame stride of the world model; several run one after another", "4", true},
                 {"n_iter", "N", "interaction iterations per episode", "40"},
                 {"exe_steps", "N", "actions executed per iteration", "16"},
                 {"perframe_ae", "", "decode the video one frame at a time (as upstream's run script)"},
                 {"zero_pred_state", "", "feed zero states to the world model, as upstream's flag"},
                 {"save_fps", "N", "frame rate of the saved videos", "8"},
                 {"bs", "N", "batch size; upstream supports 1 only", "1"},
                 {"n_action_steps", "N", "accepted for upstream's command lines, unused"},
                 {"num_generation", "N", "accepted for upstream's command lines, unused"},
                 clip_vocab_flag(),
                 auto_device_flag(),
                 auto_precision_flag(),
                 noise_flag(),
                 noise_file_flag(),
                 quiet_flag()}};
  for (FlagDef& flag : sampling_flags(50, "uniform", 0.0)) spec.flags.push_back(std::move(flag));
  spec.notes =
      "Flags are upstream's world_model_interaction.py's; --noise torch moves the CPU stream past the model's\n"
      "construction draws, as upstream's seeding does.\n";
  return spec;
}

}  // namespace

int cmd_interact(int argc, char** argv) {
  const Flags f(argc, argv, flag_spec());
  if (print_help(f)) return 0;
  WMA_CHECK(f.integer("bs", 1) == 1, "--bs must be 1 (upstream supports batch size 1 only)");
  using namespace pipeline;

  // The start-up line first: it says where the run goes before any input is read.
  const DeviceChoice choice = choose_device(f, gpu_usable());
  const nn::LoadOptions options = select_device(choice.device, choice.precision);
  std::fprintf(stderr, "%s\n", startup_line("interact", choice, gpu_description(options.device)).c_str());

  // Everything is read and checked before the first output file is written.
  TimedConfig timed_config = load_config(f.required("config"));
  WorldModelConfig& config = timed_config.config;
  const double config_seconds = timed_config.seconds;
  config.perframe_ae = f.has("perframe_ae");  // upstream: model.perframe_ae = args.perframe_ae
  const auto [height, width] = checked_video_size(f, config, true);
  const PassOptions pass = pass_options(f, config, 50, "uniform", 0.0);

  SessionSettings settings;
  settings.savedir = f.required("savedir");
  settings.frame_strides = f.integers("frame_stride", 4);
  settings.save_fps = static_cast<int>(f.integer("save_fps", 8));
  settings.loop.pass = pass;
  settings.loop.n_iter = static_cast<int>(f.integer("n_iter", 40));
  settings.loop.exe_steps = static_cast<int>(f.integer("exe_steps", 16));
  settings.loop.zero_pred_state = f.has("zero_pred_state");
  settings.loop.progress = !f.has("quiet");
  WMA_CHECK(settings.loop.n_iter >= 1, "--n_iter must be at least 1");
  for (std::int64_t fs : settings.frame_strides) WMA_CHECK(fs >= 1, "--frame_stride must be positive");

  const std::string prompt_dir = f.required("prompt_dir"), dataset = f.required("dataset");
  const std::vector<EpisodeSpec> specs = read_prompt_list(prompt_dir, dataset);
  const io::NormalizationStats stats = read_dataset_stats(prompt_dir, dataset);
  std::vector<EpisodeJob> jobs;
  for (const EpisodeSpec& spec : specs) {
    std::int64_t max_fs = 1;
    for (std::int64_t fs : settings.frame_strides) max_fs = std::max(max_fs, fs);
    const InitialObservation obs =
        load_initial_observation(spec, stats, height, width, max_fs, pass.video_length,
                                 config.projectors.agent_state_dim, config.projectors.agent_action_dim);
    jobs.push_back({spec.videoid,
                    spec.fps,
                    {obs.image, obs.state, spec.instruction, obs.state_dim, obs.action_dim},
                    stats,
                    read_trajectory_labels(prompt_dir, dataset, spec.transition_path)});
  }
  const models::ClipTokenizer tokenizer = models::ClipTokenizer::load(require_bpe(f));

  // Before the model loads: TorchNoise moves the CPU stream past upstream's construction draws meanwhile.
  const std::int64_t seed = f.integer("seed", 123);
  const std::unique_ptr<NoiseSource> noise =
      make_noise(f, seed, config.construction_cpu_draws, gpu_geometry(options.device));

  Profiler profiler = device_profiler(options.device);
  profiler.set_run(run_record(f, options, seed));
  const LoadedModel loaded = load_model(f, config, options, profiler, config_seconds);
  Synthesizer synth(*loaded.model, tokenizer, pass);
  const std::vector<std::string> written = run_session(synth, jobs, settings, *noise, profiler);
  std::fprintf(stderr, "wrote %zu files under %s/inference\n", written.size(), settings.savedir.c_str());
  std::fprintf(stderr, "profile: %s\n", report_profile(settings.savedir, profiler).c_str());
  return 0;
}

}  // namespace wma::app
