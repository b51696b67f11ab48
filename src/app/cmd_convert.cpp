// `wma convert IN OUT.safetensors [--dtype fp32|fp16|bf16]`: rewrites a checkpoint as safetensors
// under the names the models load (upstream's key quirks applied), one tensor in memory at a time.
#include <cstdio>
#include <filesystem>
#include <string>

#include "app/cli.h"
#include "app/commands.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "io/tensor_bytes.h"
#include "io/weight_store.h"

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
                 "IN OUT.safetensors [--dtype fp32|fp16|bf16]",
                 {{"dtype", "fp32|fp16|bf16", "storage type of the floating-point tensors", "bf16"}},
                 {{"IN", "a .ckpt or .safetensors checkpoint"}, {"OUT.safetensors", "the file written"}}});
  if (print_help(f)) return 0;
  WMA_CHECK(f.positionals().size() == 2, "[convert] usage: wma convert IN OUT.safetensors [--dtype fp32|fp16|bf16]");
  const std::string in = f.positionals()[0], out = f.positionals()[1];
  const std::string dtype_arg = f.str("dtype", "bf16");
  const DType target = parse_dtype(dtype_arg);
  std::error_code ec;
  WMA_CHECK(!std::filesystem::equivalent(in, out, ec), "[convert] ", out, ": output would overwrite the input");

  const io::WeightStore store = io::WeightStore::open(in);
  io::SafetensorsWriter writer(out);
  writer.set_metadata("format", "pt");
  writer.set_metadata("wma.source", std::filesystem::path(in).filename().string());
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
