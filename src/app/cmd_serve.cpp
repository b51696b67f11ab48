// `wma serve`: upstream's scripts/evaluation/real_eval_server.py as run_real_eval_server.sh starts it
// (world_model_decision_making.yaml, 16 DDIM steps, uniform_trailing, frame_stride 2), an HTTP policy server
// for unitree_deploy's robot client. Upstream's flags with the run script's values as defaults, plus ours:
// --device, --precision, --demo_weights, --clip_vocab, --data_dir/--dataset, --host, --port, --max_queue,
// --max_body_bytes, --request_timeout. docs/server.md has the protocol and the limits.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "app/cli.h"
#include "app/commands.h"
#include "app/device_choice.h"
#include "core/error.h"
#include "io/yaml.h"
#include "pipeline/decision.h"
#include "pipeline/example_data.h"
#include "pipeline/session.h"
#include "sampling/sampler.h"
#if WMA_WITH_HTTP
#include "app/serve/http_server.h"
#endif

namespace wma::app {
namespace {

FlagSpec flag_spec() {
  FlagSpec spec{"serve",
                "--config <yaml> (--ckpt_path <ckpt|safetensors> | --demo_weights) [options]",
                {config_flag("the model's yaml (upstream's configs/inference/world_model_decision_making.yaml)"),
                 ckpt_flag(),
                 demo_weights_flag(),
                 {"savedir", "<dir>",
                  "where imagined videos are saved, as <date>_<time>_<request>.mp4 (default: none saved)"},
                 {"frame_stride", "N", "frame stride; the model's fps is 30 / N", "2"},
                 {"bs", "N", "batch size; upstream supports 1 only", "1"},
                 {"perframe_ae", "", "accepted for upstream's command lines"},
                 {"data_dir", "<dir>",
                  "dataset statistics root (default: the yaml's data.params.test.params.data_dir)"},
                 {"dataset", "<name>",
                  "dataset whose stats normalise requests (default: the yaml's last "
                  "dataset_and_weights entry)"},
                 clip_vocab_flag(),
                 auto_device_flag(),
                 auto_precision_flag(),
                 noise_flag(),
                 {"host", "<address>", "address to listen on", "127.0.0.1"},
                 {"port", "N", "TCP port (0: any free port)", "8000"},
                 {"max_queue", "N", "requests waiting at most before 503", "4"},
                 {"max_body_bytes", "N", "largest request body accepted", "33554432"},
                 {"request_timeout", "S", "seconds a client has to send a request, or to read its answer", "30"},
                 {"save_fps", "N", "frame rate of saved videos", "8"}}};
  for (FlagDef& flag : sampling_flags(16, "uniform_trailing", 0.7)) spec.flags.push_back(std::move(flag));
  spec.notes = "Defaults are run_real_eval_server.sh's values; guidance never runs upstream. Stats are read from\n"
               "<data_dir>/transitions/<dataset>/meta_data/stats.safetensors. Protocol: docs/server.md.\n";
  return spec;
}

#if WMA_WITH_HTTP
// upstream's DataModuleFromConfig keeps the last dataset it sets up as the server's dataset_name.
std::string default_dataset(const io::YamlNode& root, const std::string& source) {
  const io::YamlNode* sets = root.find_path("data.params.dataset_and_weights");
  WMA_CHECK(sets != nullptr && sets->size() > 0, source, " has no data.params.dataset_and_weights: pass --dataset");
  return sets->items().back().first;
}

std::string default_data_dir(const io::YamlNode& root, const std::string& source) {
  const io::YamlNode* dir = root.find_path("data.params.test.params.data_dir");
  WMA_CHECK(dir != nullptr, source, " has no data.params.test.params.data_dir: pass --data_dir");
  return dir->as_string();
}
#endif

}  // namespace

int cmd_serve(int argc, char** argv) {
  const Flags f(argc, argv, flag_spec());
  if (print_help(f)) return 0;
#if !WMA_WITH_HTTP
  fail("this build has no HTTP server: it was configured with -DWMA_HTTP=OFF; reconfigure with -DWMA_HTTP=ON");
#else
  WMA_CHECK(f.integer("bs", 1) == 1, "--bs must be 1 (upstream supports batch size 1 only)");
  using namespace pipeline;

  // SIGINT/SIGTERM go to one watcher thread: blocked before any other thread exists (the CUDA driver's and
  // the server's inherit the mask), they stop a running server, or end the program while it loads.
  static std::atomic<serve::PolicyServer*> running{nullptr};
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread([signals] {
    int received = 0;
    sigwait(&signals, &received);
    serve::PolicyServer* server = running.load();
    if (server == nullptr) std::_Exit(128 + received);
    std::fprintf(stderr, "wma serve: signal %d, stopping\n", received);
    server->stop();
  }).detach();

  // The start-up line first: it says where the run goes before any input is read.
  const DeviceChoice choice = choose_device(f, gpu_usable());
  const std::string &device = choice.device, &precision = choice.precision;
  const nn::LoadOptions options = select_device(device, precision);
  std::fprintf(stderr, "%s\n", startup_line("serve", choice, gpu_description(options.device)).c_str());

  // Everything is read and checked before the model loads.
  const std::string config_path = f.required("config");
  TimedConfig timed_config = load_config(config_path);
  const WorldModelConfig& config = timed_config.config;
  const double config_seconds = timed_config.seconds;
  checked_video_size(f, config, true);

  DecisionSettings settings;
  settings.pass = pass_options(f, config, 16, "uniform_trailing", 0.7);
  const std::int64_t frame_stride = f.integer("frame_stride", 2);
  WMA_CHECK(frame_stride >= 1, "--frame_stride must be positive");
  settings.fs = static_cast<std::int64_t>(30.0 / static_cast<double>(frame_stride));  // torch.long(30 / stride)
  settings.savedir = f.str("savedir");
  settings.save_fps = static_cast<int>(f.integer("save_fps", 8));

  serve::ServerOptions server;
  server.host = f.str("host", "127.0.0.1");
  server.port = static_cast<int>(f.integer("port", 8000));
  const long long max_queue = f.integer("max_queue", 4), max_body = f.integer("max_body_bytes", 32ll << 20);
  WMA_CHECK(server.port >= 0 && server.port <= 65535, "--port ", server.port, " is not a TCP port");
  WMA_CHECK(max_queue >= 0 && max_queue <= 1024, "--max_queue must be 0..1024, got ", max_queue);
  WMA_CHECK(max_body >= 1024 && max_body <= (4ll << 30), "--max_body_bytes must be 1024..4294967296, got ", max_body);
  const double request_timeout = f.real("request_timeout", 30);
  WMA_CHECK(request_timeout >= 0.1 && request_timeout <= 3600, "--request_timeout must be 0.1..3600 seconds, got ",
            request_timeout);
  server.max_queue = static_cast<std::size_t>(max_queue);
  server.max_body_bytes = static_cast<std::size_t>(max_body);
  server.request_timeout = std::chrono::milliseconds(static_cast<long long>(request_timeout * 1000));

  const io::YamlNode root = io::load_yaml(config_path);
  const std::string dataset = f.has("dataset") ? f.str("dataset") : default_dataset(root, config_path);
  const std::string data_dir = f.has("data_dir") ? f.str("data_dir") : default_data_dir(root, config_path);
  io::NormalizationStats stats = read_dataset_stats(data_dir, dataset);
  const models::ClipTokenizer tokenizer = models::ClipTokenizer::load(require_bpe(f));

  // Upstream seeds once, then builds the model: TorchNoise moves the CPU stream past those construction draws
  // while the model loads (as `wma interact`); every request then continues both streams.
  std::unique_ptr<NoiseSource> noise =
      make_noise(f, f.integer("seed", 123), config.construction_cpu_draws, gpu_geometry(options.device));
  std::fprintf(stderr, "wma serve: loading %s ...\n", f.has("ckpt_path") ? f.str("ckpt_path").c_str() : "demo weights");
  Profiler loading = device_profiler(options.device);
  const LoadedModel loaded = load_model(f, config, options, loading, config_seconds);
  std::fprintf(stderr, "wma serve: model loaded in %.1f s (config %.2f s, checkpoint %.1f s, to the GPU %.1f s)\n",
               loading.total("model_loading"), loading.total("model_loading/config"),
               loading.total("model_loading/checkpoint"), loading.total("model_to_cuda"));
  const WorldModel& model = *loaded.model;
  DecisionPolicy policy(model, tokenizer, std::move(stats), settings, std::move(noise));
  server.description = str_cat(f.has("ckpt_path") ? f.str("ckpt_path") : "demo weights", " (", config_path, "), ",
                               device, " ", precision, ", dataset ", dataset, ", ", settings.pass.ddim_steps, " ",
                               sampling::sampler_name(settings.pass.sampler), " steps");

  serve::PolicyServer http(policy, server);
  const int port = http.bind();
  running = &http;
  std::fprintf(stderr, "wma serve: listening on http://%s:%d (POST /predict_action, GET /health); %s\n",
               server.host.c_str(), port, server.description.c_str());
  http.serve();  // returns once the watcher has stopped it, so `http` outlives its use there
  return 0;
#endif
}

}  // namespace wma::app
