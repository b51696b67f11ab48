// `wma convert IN OUT.safetensors [--dtype fp32|fp16|bf16]`: rewrites a checkpoint as safetensors
// under the names the models load (upstream's key quirks applied), one tensor in memory at a time.
// `wma convert --demo_weights [--config CFG] OUT.safetensors` writes the deterministic weights of the model a
// config describes (the built-in demo model without one) instead: a full-size checkpoint for timing the loaders
// where the official one cannot be downloaded.
#include <cstdio>
#include <filesystem>
#include <string>

#include "app/cli.h"
#include "app/commands.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "io/tensor_bytes.h"
#include "io/weight_store.h"
#include "pipeline/demo.h"
#include "pipeline/world_model.h"

namespace wma::app {

namespace {

DType parse_dtype(const std::string& s) {
  if (s == "fp32" || s == "f32") return DType::F32;
  if (s == "fp16" || s == "f16") return DType::F16;
  if (s == "bf16") return DType::BF16;
  fail("[convert] --dtype must be fp32, fp16 or bf16, got '", s, "'");
}

}  // namespace

int cmd_convert(int argc, char** argv) {
  const Flags f(argc, argv,
                {"convert",
                 "IN OUT.safetensors [--dtype fp32|fp16|bf16] | --demo_weights [--config CFG] OUT.safetensors",
                 {{"dtype", "fp32|fp16|bf16", "storage type of the floating-point tensors", "bf16"},
                  demo_weights_flag(),
                  {"config", "PATH", "with --demo_weights: the model's yaml (default: the built-in demo model)", ""}},
                 {{"IN", "a .ckpt or .safetensors checkpoint"}, {"OUT.safetensors", "the file written"}}});
  if (print_help(f)) return 0;
  const bool demo = f.has("demo_weights");
  WMA_CHECK(f.positionals().size() == (demo ? 1u : 2u),
            "[convert] usage: wma convert IN OUT.safetensors [--dtype fp32|fp16|bf16], or wma convert --demo_weights "
            "[--config CFG] OUT.safetensors");
  WMA_CHECK(demo || !f.has("config"), "[convert] --config goes with --demo_weights (a checkpoint needs none)");
  const std::string in = demo ? std::string("deterministic weights") : f.positionals()[0];
  const std::string out = f.positionals().back();
  const std::string dtype_arg = f.str("dtype", "bf16");
  const DType target = parse_dtype(dtype_arg);
  std::error_code ec;
  WMA_CHECK(demo || !std::filesystem::equivalent(in, out, ec), "[convert] ", out, ": output would overwrite the input");

  const io::WeightStore store =
      demo ? pipeline::deterministic_world_model_store(f.has("config") ? load_config(f.str("config")).config
                                                                       : pipeline::demo_config())
           : io::WeightStore::open(in);
  io::SafetensorsWriter writer(out);
  writer.set_metadata("format", "pt");
  writer.set_metadata("wma.source", demo ? in : std::filesystem::path(in).filename().string());
  writer.set_metadata("wma.dtype", std::string(dtype_name(target)));
  std::size_t total = 0;
  for (const auto& key : store.keys()) {
    const io::TensorInfo& info = *store.find(key);
    const DType dtype = dtype_is_float(info.dtype) ? target : info.dtype;
    total += static_cast<std::size_t>(shape_numel(info.shape)) * dtype_size(dtype);
    writer.add(key, dtype, info.shape, [&store, key, dtype] { return io::contiguous_as(store.load(key), dtype); });
  }
  writer.finish();
  std::printf("wrote %s: %zu tensors, %zu bytes of %s data\n", out.c_str(), store.keys().size(), total,
              std::string(dtype_name(target)).c_str());
  return 0;
}

}  // namespace wma::app
