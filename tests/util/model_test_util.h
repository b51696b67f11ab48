// Shared helpers of the model tests (tests/models, tests/cuda_models, tests/pipeline): repository and
// fixture paths, the tiny fixture config, deterministic weight stores, layout conversion and the error
// measure every parity check reports.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "io/weight_store.h"
#include "io/yaml.h"
#include "models/deterministic_source.h"
#include "models/model_config.h"
#include "models/wma_model.h"
#include "nn/weights.h"

namespace wma::models::test {

std::filesystem::path source_dir();                           // $WMA_SOURCE_DIR (set by the test main)
std::filesystem::path fixture_path(const std::string& file);  // tests/fixtures/<file>

// Opens tests/fixtures/<file>; throws naming the path when it is absent.
io::WeightStore load_fixture(const std::string& file);

// tests/fixtures/configs/tiny.yaml (the configuration behind every fixture) and its model
// configs with the observation shapes of tiny_meta.json; both read once.
const io::YamlNode& tiny_yaml();
const ObsShapeMeta& tiny_obs();
const WmaConfig& tiny_config();

// Deterministic weights (docs/fixtures.md) for exactly the keys `Module(store, config, options,
// prefix...)` reads; `prefix` is passed on when given, else the module's default applies.
template <typename Module, typename Config, typename... Prefix>
io::WeightStore deterministic_store(const Config& config, const Prefix&... prefix) {
  return deterministic_store_for([&](const io::WeightStore& s) { Module(s, config, nn::LoadOptions{}, prefix...); });
}

// A copy of `store` in a temporary safetensors file without `drop` and with `misshape` one
// element longer.
io::WeightStore edited_copy(const io::WeightStore& store, const std::string& drop, const std::string& misshape);

// torch [N, C, H, W] -> [N, H, W, C]; [B, C, T, H, W] -> [B, T, H, W, C].
Tensor channels_last(const Tensor& t);

// One denoiser call recorded in tests/fixtures/wma_{policy,world}.safetensors, channels-last, on
// the CPU in f32.
struct WmaStepInputs {
  Tensor xc;                 // [B, T, h, w, 2C]: noisy latent | c_concat (upstream's UNet input)
  Tensor x;                  // [B, T, h, w, C]: the noisy latent
  Tensor x_action, x_state;  // [B, horizon, input_dim]
  Tensor t;                  // [B] timesteps
  WMAConditioning conditioning;
};
WmaStepInputs wma_step_inputs(const io::WeightStore& fixture);

// The recording machine's float32 square roots of the heads' scheduler (schedules.safetensors dp.host_sqrt.*),
// for sampling::DiffusersDdimConfig::host_sqrt.
std::map<std::uint32_t, float> recorded_host_sqrt();

// max |a - b| / max |b| over all elements (any dtype, any device); infinite on a shape mismatch
// or a non-finite element of `actual`.
double relative_error(const Tensor& actual, const Tensor& expected);

// Prints "[tag] what shape: max rel err e" and expects e <= tolerance; returns e.
double expect_close(const std::string& tag, const std::string& what, const Tensor& actual, const Tensor& expected,
                    double tolerance);

}  // namespace wma::models::test
