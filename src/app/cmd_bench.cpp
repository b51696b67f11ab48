// `wma bench`: one interaction iteration (policy pass + world-model pass, each N DDIM steps and a VAE decode)
// at the size of the given config, after warm-up iterations, with the profile table of `wma interact`, the
// per-step time of the denoiser, the decode time and peak GPU memory, also written as JSON. Without a
// checkpoint it runs the deterministic weights, so it needs nothing but the config. --accuracy measures instead
// how far each sampler lands from a many-step DDIM reference (pipeline/sampler_accuracy.h, docs/sampling.md).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "app/cli.h"
#include "app/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "ops/device.h"
#include "ops/op_profile.h"
#include "ops/ops.h"
#include "pipeline/demo.h"
#include "pipeline/interaction.h"
#include "pipeline/outputs.h"
#include "pipeline/replay.h"
#include "pipeline/sampler_accuracy.h"
#include "pipeline/session.h"
#include "sampling/sampler.h"

namespace wma::app {
namespace {

FlagSpec flag_spec() {
  return {"bench",
          "--config <yaml> [--ckpt_path <ckpt|safetensors>] [options]",
          {config_flag("the model's yaml; its full size is timed"),
           {"ckpt_path", "<ckpt|safetensors>", "the model's checkpoint (default: deterministic weights)"},
           device_flag("cuda"),
           precision_flag("fp16"),
           sampler_flag(),
           {"ddim_steps", "N", "denoising steps (model evaluations) per sampling pass", "50"},
           {"warmup", "N", "untimed iterations first", "1"},
           {"iterations", "N", "timed iterations", "1"},
           {"seed", "N", "random seed", "123"},
           noise_flag(),
           {"clip_vocab",
            "<file>",
            "OpenCLIP's bpe_simple_vocab_16e6.txt.gz (default: found as by `wma interact`, else a byte-level "
            "tokenizer of the same cost)",
            "",
            false,
            {"clip-vocab", "bpe_path"}},
           {"json", "<file>", "write the profile table as JSON"},
           {"save_outputs", "<safetensors>",
            "the last iteration's videos, latents, actions and states under upstream's names and layouts"},
           {"op_profile", "", "per-op GPU time, synchronising around every op: ranks ops, slows the run"},
           {"replay", "<safetensors>",
            "inputs and every random draw of upstream's recorded iteration (bench/upstream/run_upstream.py "
            "--record) instead of the synthetic scene and --noise"},
           {"dump", "<safetensors>", "per-module tensors of the replayed iteration, for the full-size parity check"},
           {"check_noise", "<safetensors>",
            "compare the --noise torch --seed draws with the record's bit for bit (no construction draws: the "
            "record's harness seeds right before the iteration), then exit"},
           {"accuracy", "",
            "instead of timing an iteration: every sampler at every --accuracy_steps against a --reference_steps "
            "DDIM eta 0 pass from the same x_T, printed as markdown tables"},
           {"accuracy_steps", "N", "step counts of --accuracy", "6 8 10 12 16 20 25 50", true},
           {"reference_steps", "N", "DDIM eta 0 steps of --accuracy's reference", "250"},
           {"accuracy_modes", "world|decision",
            "passes --accuracy measures: the world-model pass, the server's "
            "decision pass",
            "world decision", true},
           {"accuracy_samplers", "ddim|dpmpp_2m|unipc", "samplers --accuracy compares", "ddim dpmpp_2m unipc", true},
           {"timestep_spacing", "uniform|uniform_trailing", "how the timesteps are spread", "uniform_trailing"}}};
}

int run_accuracy(const Flags& f, const pipeline::WorldModel& model, const models::ClipTokenizer& tokenizer,
                 sampling::TimestepSpacing spacing,
                 const std::function<std::unique_ptr<pipeline::NoiseSource>()>& noise,
                 const std::function<void()>& sync, const std::string& config, const std::string& precision) {
  using namespace pipeline;
  AccuracyOptions options;
  options.spacing = spacing;
  options.reference_steps = static_cast<int>(f.integer("reference_steps", 250));
  if (f.has("accuracy_steps")) {
    options.steps.clear();
    for (const std::int64_t n : f.integers("accuracy_steps", 0)) {
      WMA_CHECK(n >= 1, "--accuracy_steps must be positive, got ", n);
      options.steps.push_back(static_cast<int>(n));
    }
  }
  if (f.has("accuracy_samplers")) {
    options.samplers.clear();
    for (const std::string& name : f.strs("accuracy_samplers"))
      options.samplers.push_back(sampling::parse_sampler(name));
  }
  std::vector<AccuracyMode> modes = {AccuracyMode::WorldModel, AccuracyMode::Decision};
  if (f.has("accuracy_modes")) {
    modes.clear();
    for (const std::string& name : f.strs("accuracy_modes")) {
      WMA_CHECK(name == "world" || name == "decision", "--accuracy_modes expects world or decision, got '", name, "'");
      modes.push_back(name == "world" ? AccuracyMode::WorldModel : AccuracyMode::Decision);
    }
  }
  std::vector<AccuracyRow> rows;
  for (const AccuracyMode mode : modes) {
    const std::vector<AccuracyRow> part = measure_sampler_accuracy(model, tokenizer, mode, options, noise, sync);
    rows.insert(rows.end(), part.begin(), part.end());
  }
  std::printf("wma bench --accuracy: %s, %s, %s, weights %s, seed %lld\n\n%s",
              ops::device_description(model.options.device).c_str(), precision.c_str(), config.c_str(),
              f.has("ckpt_path") ? f.str("ckpt_path").c_str() : "deterministic", f.integer("seed", 123),
              accuracy_table(rows, options.reference_steps).c_str());
  if (f.has("json")) {
    io::json::Array list;
    for (const AccuracyRow& r : rows)
      list.push_back(io::json::Object{{"mode", accuracy_mode_name(r.mode)},
                                      {"sampler", std::string(sampling::sampler_name(r.sampler))},
                                      {"steps", r.steps},
                                      {"latent_rel_l2", r.latent_rel_l2},
                                      {"video_psnr_db", std::isinf(r.video_psnr_db) ? io::json::Value()
                                                                                    : io::json::Value(r.video_psnr_db)},
                                      {"actions_rms", r.actions_rms},
                                      {"states_rms", r.states_rms},
                                      {"sampling_s", r.sampling_s},
                                      {"pass_s", r.pass_s}});
    write_text_file(f.str("json"),
                    io::json::dump(io::json::Object{{"command", "bench --accuracy"},
                                                    {"device", ops::device_description(model.options.device)},
                                                    {"precision", precision},
                                                    {"config", config},
                                                    {"reference_steps", options.reference_steps},
                                                    {"rows", std::move(list)}}));
  }
  return 0;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  const Flags f(argc, argv, flag_spec());
  if (print_help(f)) return 0;
  using namespace pipeline;
  TimedConfig timed_config = load_config(f.required("config"));
  WorldModelConfig& config = timed_config.config;
  const double config_seconds = timed_config.seconds;
  config.perframe_ae = true;  // as upstream's run_world_model_interaction.sh passes --perframe_ae
  // Checked before the model loads, like every other flag.
  const sampling::SamplerKind sampler = sampling::parse_sampler(f.str("sampler", "ddim"));
  const sampling::TimestepSpacing spacing =
      sampling::parse_timestep_spacing(f.str("timestep_spacing", "uniform_trailing"));
  const std::string precision = f.str("precision", "fp16");
  const nn::LoadOptions options = select_device(f.str("device", "cuda"), precision);
  if (f.has("check_noise")) {
    const RecordedIteration record(f.str("check_noise"), config);
    TorchNoise noise(f.integer("seed", 123), 0, gpu_geometry(options.device));
    const NoiseComparison c = compare_recorded_noise(record, noise, options.device);
    std::printf("%s%s\n", c.report.c_str(), c.all_equal ? "every draw equal bit for bit" : "DRAWS DIFFER");
    return c.all_equal ? 0 : 1;
  }
  const int warmup = static_cast<int>(f.integer("warmup", 1)),
            iterations = static_cast<int>(f.integer("iterations", 1));
  WMA_CHECK(warmup >= 0 && iterations >= 1, "--warmup must be >= 0 and --iterations >= 1");

  Profiler profiler = device_profiler(options.device);
  const std::int64_t seed = f.integer("seed", 123);
  profiler.set_run(run_record(f, options, seed));
  const std::string ckpt = f.str("ckpt_path");
  WMA_CHECK(ckpt.empty() || std::filesystem::exists(ckpt), "checkpoint ", ckpt, " not found");
  const LoadedModel loaded = build_model(
      [&] {
        return std::make_unique<io::WeightStore>(ckpt.empty() ? deterministic_world_model_store(config)
                                                              : io::WeightStore::open(ckpt));
      },
      config, options, profiler, config_seconds);
  WorldModel& model = *loaded.model;
  const std::string bpe = find_bpe(f);
  WMA_CHECK(!bpe.empty() || !f.has("replay"), "--replay needs OpenCLIP's vocabulary (--clip_vocab): the recorded ",
            "prompt must tokenize as upstream tokenized it");
  if (bpe.empty()) log_info("[bench] no OpenCLIP vocabulary found: using a byte-level tokenizer (same cost)");
  const models::ClipTokenizer tokenizer = bpe.empty() ? demo_tokenizer() : models::ClipTokenizer::load(bpe);

  InteractionOptions loop;
  loop.pass.sampler = sampler;
  loop.pass.ddim_steps = static_cast<int>(f.integer("ddim_steps", 50));
  loop.pass.ddim_eta = 1.0;
  loop.pass.timestep_spacing = spacing;
  loop.pass.video_length = static_cast<int>(config.wma.unet.temporal_length);
  loop.n_iter = 1;
  loop.exe_steps = loop.pass.video_length;
  loop.model_fs = 7;  // unitree_z1_stackbox at frame stride 4, as upstream's interaction script derives it
  loop.progress = false;

  const DemoScene scene =
      make_demo_scene(config.video_height(), config.video_width(), config.projectors.agent_state_dim);
  const EpisodeStart start{scene.image, scene.state, scene.instruction, scene.state_dim, scene.action_dim};

  const std::string noise_kind = f.str("noise", "torch");
  WMA_CHECK(!(f.has("replay") && f.has("noise")), "--replay takes its noise from the record; drop --noise");
  WMA_CHECK(noise_kind == "torch" || noise_kind == "fast", "--noise expects torch or fast, got '", noise_kind, "'");
  auto make_noise = [&]() -> std::unique_ptr<NoiseSource> {
    // The CPU stream is not moved past upstream's construction draws: only the timing matters here, and
    // --replay is how the bench reproduces upstream's noise exactly.
    if (noise_kind == "torch") return std::make_unique<TorchNoise>(seed, 0, gpu_geometry(options.device));
    return std::make_unique<PhiloxNoise>(static_cast<std::uint64_t>(seed));
  };

  if (f.has("accuracy")) {
    WMA_CHECK(!f.has("replay"), "--accuracy runs the synthetic scene; drop --replay");
    return run_accuracy(
        f, model, tokenizer, loop.pass.timestep_spacing, make_noise,
        [device = options.device] { synchronize_device(device); }, config.source, precision);
  }

  std::unique_ptr<RecordedIteration> record;
  if (f.has("replay")) record = std::make_unique<RecordedIteration>(f.str("replay"), config);
  WMA_CHECK(record || !f.has("dump"), "--dump needs --replay (the dump is of the recorded iteration)");

  Synthesizer synth(model, tokenizer, loop.pass);
  IterationResult last;
  auto run_iteration = [&](Profiler* timing) {
    if (record) {
      last = run_recorded_iteration(synth, *record, *record->noise(), timing);
      return;
    }
    auto noise = make_noise();
    run_interaction(synth, start, loop, *noise, timing, [&](const IterationResult& r) { last = r; });
  };
  for (int w = 0; w < warmup; ++w) run_iteration(nullptr);
  ops::reset_peak_memory(options.device);
  ops::set_op_profiling(f.has("op_profile"));
  for (int it = 0; it < iterations; ++it) run_iteration(&profiler);
  ops::set_op_profiling(false);

  io::json::Object extra{{"command", "bench"},
                         {"device", ops::device_description(options.device)},
                         {"precision", precision},
                         {"sampler", std::string(sampling::sampler_name(loop.pass.sampler))},
                         {"ddim_steps", loop.pass.ddim_steps},
                         {"config", config.source},
                         {"weights", f.has("ckpt_path") ? f.str("ckpt_path") : "deterministic"}};
  const double sampling_s = profiler.total("synthesis/ddim_sampling");
  const double step_ms = 1e3 * sampling_s / (2.0 * iterations * loop.pass.ddim_steps);
  const double decode_s = profiler.total("synthesis/decode_first_stage") / (2.0 * iterations);
  extra.emplace_back("denoiser_step_ms", step_ms);
  extra.emplace_back("decode_s", decode_s);
  if (options.device == Device::CUDA)
    profiler.set_memory("gpu_device_used", ops::memory_stats(options.device).device_used_bytes);
  std::printf("wma bench: %s, %s, %s, %d %s steps per pass, %d warm-up + %d timed iteration(s)\n",
              ops::device_description(options.device).c_str(), precision.c_str(), config.source.c_str(),
              loop.pass.ddim_steps, std::string(sampling::sampler_name(loop.pass.sampler)).c_str(), warmup, iterations);
  std::printf("%s", profiler.table().c_str());
  std::printf("denoiser step (mean over both passes): %.2f ms\nVAE decode (16 frames, mean): %.3f s\n", step_ms,
              decode_s);
  const std::string ops_table = ops::op_profile_table(2 * iterations * loop.pass.ddim_steps);
  if (!ops_table.empty()) std::printf("\n%s", ops_table.c_str());

  if (f.has("json")) {
    io::json::Value doc = profiler.to_json();
    for (auto& kv : extra) doc.as_object().push_back(std::move(kv));
    write_text_file(f.str("json"), io::json::dump(doc));
  }
  if (f.has("save_outputs")) write_iteration_outputs(f.str("save_outputs"), last);
  if (f.has("dump")) write_module_dump(f.str("dump"), synth, *record);
  return 0;
}

}  // namespace wma::app
