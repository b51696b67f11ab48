#include "pipeline/replay.h"

#include <cstring>
#include <vector>

#include "core/error.h"
#include "ops/ops.h"

namespace wma::pipeline {
namespace {

// torch [B, C, T, H, W] <-> our channels-last [B, T, H, W, C].
Tensor to_channels_last(const Tensor& t) { return ops::contiguous(t.permute({0, 2, 3, 4, 1})); }
Tensor to_torch_layout(const Tensor& t) { return ops::contiguous(t.permute({0, 4, 1, 2, 3})); }

Tensor host_f32(const Tensor& t) { return ops::cast(ops::to_device(t, Device::CPU), DType::F32); }

}  // namespace

RecordedIteration::RecordedIteration(const std::string& path, const WorldModelConfig& config)
    : path_(path), store_(io::WeightStore::open(path)) {
  auto need = [&](const std::string& key) {
    WMA_CHECK(store_.contains(key), "[replay] ", path, " has no tensor '", key,
              "' (record it with bench/upstream/run_upstream.py --record)");
    return store_.load(key);
  };
  const Tensor images = to_channels_last(ops::cast(need("input.observation.images.top"), DType::F32));
  WMA_CHECK(images.dim() == 5 && images.size(0) == 1 && images.size(2) == config.video_height() &&
                images.size(3) == config.video_width() && images.size(4) == 3,
            "[replay] ", path, ": observation images ", images.describe(), " (channels-last) do not fit the model of ",
            config.source, ", which takes ", config.video_height(), "x", config.video_width(), " frames");
  const Tensor state = ops::cast(need("input.observation.state"), DType::F32);
  const Tensor action = ops::cast(need("input.action"), DType::F32);
  const Tensor world_action = ops::cast(need("iter0.world.input.action"), DType::F32);
  WMA_CHECK(state.dim() == 3 && state.size(2) == config.projectors.agent_state_dim && action.dim() == 3 &&
                action.size(2) == config.projectors.agent_action_dim && world_action.shape() == action.shape(),
            "[replay] ", path, ": state ", state.describe(), " / actions ", action.describe(), " do not match the ",
            "model's ", config.projectors.agent_state_dim, "-d states and ", config.projectors.agent_action_dim,
            "-d actions");
  const std::int64_t fs = need("input.fs").to_ints().at(0);
  const io::SafetensorsSource source(path);
  const io::json::Value* prompt = nullptr;
  for (const auto& [key, value] : source.metadata())
    if (key == "prompt") prompt = &value;
  WMA_CHECK(prompt != nullptr, "[replay] ", path, " has no 'prompt' in its metadata");
  policy_ = PassInput{images, state, action, prompt->as_string(), false, fs};
  world_ = PassInput{images, state, world_action, "", true, fs};
}

std::unique_ptr<RecordedNoise> RecordedIteration::noise() const {
  auto noise = std::make_unique<RecordedNoise>(path_);
  noise->append_pass(store_, "iter0.policy.");
  noise->append_pass(store_, "iter0.world.");
  return noise;
}

Tensor RecordedIteration::upstream_latent(const std::string& pass) const {
  const std::string key = "iter0." + pass + ".output.latent";
  WMA_CHECK(store_.contains(key), "[replay] ", path_, " has no tensor '", key, "'");
  return to_channels_last(ops::cast(store_.load(key), DType::F32));
}

NoiseComparison compare_recorded_noise(const RecordedIteration& record, NoiseSource& noise, Device device) {
  NoiseComparison result;
  const io::WeightStore& store = record.store();
  for (const std::string pass : {"policy", "world"}) {
    const std::string prefix = "iter0." + pass + ".noise.";
    std::vector<std::pair<std::string, Tensor>> cpu_draws, cuda_draws;
    for (int i = 0; store.contains(prefix + "posterior." + std::to_string(i)); ++i)
      cpu_draws.emplace_back("posterior." + std::to_string(i), store.load(prefix + "posterior." + std::to_string(i)));
    for (const char* name : {"x_T", "action_T", "state_T"}) cuda_draws.emplace_back(name, store.load(prefix + name));
    const Tensor steps = store.load(prefix + "step");
    for (std::int64_t k = 0; k < steps.size(0); ++k)
      cuda_draws.emplace_back("step." + std::to_string(k), ops::contiguous(steps.select(0, k)));
    for (const bool cpu : {true, false}) {
      std::int64_t differing = 0, elements = 0;
      std::string first;
      for (const auto& [name, expected] : cpu ? cpu_draws : cuda_draws) {
        const Tensor got =
            cpu ? noise.randn_cpu(expected.shape()) : host_f32(noise.randn_cuda_on(expected.shape(), device));
        const std::vector<float> a = ops::cast(expected, DType::F32).to_floats(), b = got.to_floats();
        std::int64_t bad = 0;
        for (std::size_t i = 0; i < a.size(); ++i) bad += std::memcmp(&a[i], &b[i], sizeof(float)) != 0;
        if (bad > 0 && first.empty()) first = name;
        differing += bad;
        elements += static_cast<std::int64_t>(a.size());
      }
      result.all_equal &= differing == 0;
      result.report +=
          str_cat(pass, " pass, ", cpu ? "CPU" : "CUDA", " stream: ", (cpu ? cpu_draws : cuda_draws).size(), " draws, ",
                  elements, " values, ", differing, " differ", first.empty() ? "" : " (first in " + first + ")", "\n");
    }
  }
  return result;
}

IterationResult run_recorded_iteration(Synthesizer& synth, const RecordedIteration& record, NoiseSource& noise,
                                       Profiler* profiler) {
  IterationResult result;
  const auto iteration_timer = Profiler::scope(profiler, "iteration_total");
  {
    const auto timer = Profiler::scope(profiler, "action_generation");
    result.policy = synth.run(record.policy_input(), noise, profiler);
  }
  const auto timer = Profiler::scope(profiler, "world_model_interaction");
  result.world = synth.run(record.world_input(), noise, profiler);
  return result;
}

void write_iteration_outputs(const std::string& path, const IterationResult& result) {
  io::SafetensorsWriter writer(path);
  for (const auto& [name, out] : {std::pair<std::string, const PassOutput*>{"policy", &result.policy},
                                  std::pair<std::string, const PassOutput*>{"world", &result.world}}) {
    const std::string prefix = "iter0." + name + ".output.";
    writer.add(prefix + "video", to_torch_layout(host_f32(out->video)));
    writer.add(prefix + "latent", to_torch_layout(host_f32(out->latent)));
    writer.add(prefix + "actions", host_f32(out->actions));
    writer.add(prefix + "states", host_f32(out->states));
  }
  writer.finish();
}

void write_module_dump(const std::string& path, Synthesizer& synth, const RecordedIteration& record) {
  const WorldModel& model = synth.model();
  const Device device = model.options.device;
  io::SafetensorsWriter writer(path);
  for (const auto& [name, input] : {std::pair<std::string, const PassInput*>{"policy", &record.policy_input()},
                                    std::pair<std::string, const PassInput*>{"world", &record.world_input()}}) {
    RecordedNoise noise(record.path());
    noise.append_pass(record.store(), "iter0." + name + ".");
    ConditionParts parts;
    const models::WMAPass pass = model.diffusion.prepare(synth.condition(*input, noise, &parts));
    const WorldModelConfig& c = model.config;
    const Tensor x = to_channels_last(
        noise.randn_cuda_on({1, c.latent_channels, input->action.size(1), c.latent_height, c.latent_width}, device));
    const Tensor actions = noise.randn_cuda_on(input->action.shape(), device);
    const Tensor states = noise.randn_cuda_on({1, input->action.size(1), c.projectors.agent_state_dim}, device);
    const std::int64_t first_t = synth.ddim().timesteps.back();
    const Tensor t = ops::to_device(Tensor::from_ints({1}, {first_t}), device);
    const models::WMADenoised out = model.diffusion.denoise(x, actions, states, t, pass);
    const Tensor decoded = synth.decode(ops::to_device(record.upstream_latent(name), device));

    const std::string prefix = "dump." + name + ".";
    writer.add(prefix + "text", host_f32(parts.text));
    writer.add(prefix + "image_tokens", host_f32(parts.image_tokens));
    writer.add(prefix + "z", to_torch_layout(host_f32(parts.z)));
    writer.add(prefix + "state_emb", host_f32(parts.state_emb));
    writer.add(prefix + "action_emb", host_f32(parts.action_emb));
    writer.add(prefix + "step0.v", to_torch_layout(host_f32(out.v)));
    writer.add(prefix + "step0.action_eps", host_f32(out.action_eps));
    writer.add(prefix + "step0.state_eps", host_f32(out.state_eps));
    writer.add(prefix + "decode", to_torch_layout(host_f32(decoded)));
  }
  writer.finish();
}

}  // namespace wma::pipeline
