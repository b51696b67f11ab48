// `wma generate`: upstream's scripts/evaluation/base_model_inference.py (docs/upstream.md#base-model-generation) with
// the same flags, plus --device, --precision, --demo_weights, --clip_vocab, --noise and --noise_file as `wma interact`.
// For every picture of --prompt_dir that prompts.csv names: num_gen chunks of video from the picture and its
// instruction, written as one <savedir>/samples/<name>.mp4 (8 fps, crf 0).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "app/cli.h"
#include "app/commands.h"
#include "app/device_choice.h"
#include "core/error.h"
#include "io/image_read.h"
#include "io/video.h"
#include "ops/ops.h"
#include "pipeline/example_data.h"
#include "pipeline/generation.h"
#include "pipeline/image_preprocess.h"
#include "pipeline/session.h"
#include "pipeline/synthesis.h"

namespace wma::app {
namespace {

FlagSpec flag_spec() {
  FlagSpec spec{"generate",
                "--config <base-model yaml> (--ckpt_path <ckpt|safetensors> | --demo_weights)\n"
                "                    --prompt_dir <dir with images and a csv> --savedir <dir> [options]",
                {config_flag("the base model's yaml (upstream's configs/inference/base_model_inference.yaml)"),
                 ckpt_flag(),
                 demo_weights_flag(),
                 {"prompt_dir", "<dir>",
                  std::string("pictures and a csv of prompts, laid out like upstream's examples/base_model_prompts; ") +
                      (WMA_WITH_LIBJPEG ? "PNG or JPEG" : "PNG (JPEG needs a build with libjpeg)")},
                 {"savedir", "<dir>", "videos go to <savedir>/samples/<name>.mp4"},
                 {"text_input", "", "condition on the csv's instruction (else an empty prompt)"},
                 {"perframe_ae", "", "decode the video one frame at a time"},
                 {"bs", "N", "batch size; upstream supports 1 only", "1"},
                 clip_vocab_flag(),
                 auto_device_flag(),
                 auto_precision_flag(),
                 noise_flag(),
                 noise_file_flag(),
                 quiet_flag()}};
  for (FlagDef& flag : sampling_flags(50, "uniform", 0.0)) spec.flags.push_back(std::move(flag));
  spec.notes = "Flags are upstream's base_model_inference.py's; a negative --seed draws one, as upstream does.\n";
  return spec;
}

struct Job {
  pipeline::GenerationSpec spec;
  Tensor frame;  // [1, H, W, 3] in [-1, 1]
};

// torchvision's write_video of torch.cat(chunks, time) after clamp, (x + 1) / 2 * 255 and uint8 truncation.
std::vector<io::Rgb8Image> frames_of(const std::vector<pipeline::ChunkOutput>& chunks) {
  std::vector<io::Rgb8Image> frames;
  for (const pipeline::ChunkOutput& c : chunks) {
    const Tensor host = ops::to_device(c.video, Device::CPU);
    for (io::Rgb8Image& f : io::video_to_frames(ops::contiguous(host.select(0, 0).permute({3, 0, 1, 2}))))
      frames.push_back(std::move(f));
  }
  return frames;
}

}  // namespace

int cmd_generate(int argc, char** argv) {
  const Flags f(argc, argv, flag_spec());
  if (print_help(f)) return 0;
  WMA_CHECK(f.integer("bs", 1) == 1, "--bs must be 1 (upstream supports batch size 1 only)");
  using namespace pipeline;
  namespace fs = std::filesystem;

  // The start-up line first: it says where the run goes before any input is read.
  const DeviceChoice choice = choose_device(f, gpu_usable());
  const nn::LoadOptions options = select_device(choice.device, choice.precision);
  std::fprintf(stderr, "%s\n", startup_line("generate", choice, gpu_description(options.device)).c_str());

  // Everything is read and checked before the first output file is written.
  TimedConfig timed_config = load_config(f.required("config"));
  WorldModelConfig& config = timed_config.config;
  const double config_seconds = timed_config.seconds;
  WMA_CHECK(config.wma.unet.base_model_gen_only, config.source,
            " is not a base-model config (upstream's "
            "configs/inference/base_model_inference.yaml sets wma_config.params.base_model_gen_only: True)");
  config.perframe_ae = f.has("perframe_ae");
  const auto [height, width] = checked_video_size(f, config, false);
  const PassOptions pass = pass_options(f, config, 50, "uniform", 0.0);

  const std::string savedir = f.required("savedir");
  std::vector<Job> jobs;
  for (GenerationSpec& spec : read_generation_prompts(f.required("prompt_dir"), savedir)) {
    WMA_CHECK(spec.frame_stride != 0.0, "[generate] ", spec.image_path, ": the csv's fs is 0");
    const Tensor chw = prepare_prompt_image(io::read_image(spec.image_path), height, width);
    jobs.push_back({std::move(spec), ops::contiguous(chw.permute({1, 2, 0})).unsqueeze(0)});
  }
  const models::ClipTokenizer tokenizer = models::ClipTokenizer::load(require_bpe(f));

  Profiler profiler = device_profiler(options.device);
  const LoadedModel loaded = load_model(f, config, options, profiler, config_seconds);
  std::int64_t seed = f.integer("seed", 123);
  if (seed < 0 && !f.has("noise_file")) {
    // Upstream draws a seed in [0, 2^31] for a negative one.
    std::random_device entropy;
    seed = std::uniform_int_distribution<std::int64_t>(0, std::int64_t{1} << 31)(entropy);
    std::fprintf(stderr, "seed %lld\n", static_cast<long long>(seed));
  }
  profiler.set_run(run_record(f, options, seed));
  const std::unique_ptr<NoiseSource> noise =
      make_noise(f, seed, config.construction_cpu_draws, gpu_geometry(options.device));

  Synthesizer synth(*loaded.model, tokenizer, pass);
  BaseModelGenerator generator(synth, tokenizer);
  const fs::path samples = fs::path(savedir) / "samples";
  fs::create_directories(samples);
  std::size_t written = 0;
  for (const Job& job : jobs) {
    const GenerationSpec& s = job.spec;
    // Python's float // float, fed as int64.
    const auto model_fs = static_cast<std::int64_t>(std::floor(s.fps / s.frame_stride));
    const std::string prompt = f.has("text_input") ? s.instruction : "";
    if (!f.has("quiet"))
      std::fprintf(stderr, ">>> %s, frame_stride:%g, and %d generation ...\n", s.instruction.c_str(), s.frame_stride,
                   s.num_gen);
    std::vector<ChunkOutput> chunks;
    {
      ProgressBar bar(s.filename, pass.ddim_steps * s.num_gen, !f.has("quiet"));
      chunks = generator.generate(job.frame, prompt, model_fs, s.num_gen, *noise, &profiler, [&] { bar.tick(); });
    }
    const auto timer = Profiler::scope(&profiler, "save_results");
    const std::string stem = s.filename.substr(0, s.filename.find('.'));
    const std::string path =
        io::write_video((samples / (stem + ".mp4")).string(), frames_of(chunks), {.fps = 8, .crf = 0});
    std::fprintf(stderr, "wrote %s\n", path.c_str());
    ++written;
  }
  std::fprintf(stderr, "wrote %zu videos under %s\n", written, samples.string().c_str());
  std::fprintf(stderr, "profile: %s\n", report_profile(savedir, profiler).c_str());
  return 0;
}

}  // namespace wma::app
