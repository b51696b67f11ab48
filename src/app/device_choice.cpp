#include "app/device_choice.h"

#include <cstdio>
#include <vector>

#include "ops/device.h"

namespace wma::app {

DeviceChoice choose_device(const Flags& f, bool gpu_usable) {
  DeviceChoice c;
  c.device = f.has("device") ? f.str("device") : (gpu_usable ? "cuda" : "cpu");
  c.precision = f.has("precision") ? f.str("precision") : (c.device == "cuda" ? "fp16" : "fp32");
  return c;
}

bool gpu_usable() { return ops::device_available(Device::CUDA); }

std::string gpu_description(Device device) {
  if (device != Device::CUDA) return "";
  char memory[32];
  std::snprintf(memory, sizeof memory, "%.1f GiB",
                static_cast<double>(ops::memory_stats(device).device_total_bytes) / (1024.0 * 1024.0 * 1024.0));
  return ops::device_description(device) + ", " + memory;
}

std::string build_features() {
  std::vector<std::string> on;
  if (WMA_WITH_CUDA) on.emplace_back("CUDA");
  if (WMA_WITH_CUDNN) on.emplace_back("cuDNN");
  if (WMA_WITH_HDF5) on.emplace_back("HDF5");
  if (WMA_WITH_LIBAV) on.emplace_back("libav");
  if (WMA_WITH_LIBPNG) on.emplace_back("libpng");
  if (WMA_WITH_LIBJPEG) on.emplace_back("libjpeg");
  if (WMA_WITH_HTTP) on.emplace_back("HTTP");
  std::string s;
  for (const std::string& f : on) s += (s.empty() ? "" : " ") + f;
  return s.empty() ? "none" : s;
}

std::string startup_line(const std::string& command, const DeviceChoice& choice, const std::string& gpu) {
  const std::string where = choice.device == "cuda" ? "cuda (" + gpu + ")" : choice.device;
  return "wma " + command + ": " + where + ", " + choice.precision + "; build: " + build_features();
}

FlagDef auto_device_flag() {
  return {"device", "cpu|cuda", "where the model runs", "cuda when a usable GPU is present, else cpu"};
}
FlagDef auto_precision_flag() {
  return {"precision", "fp32|fp16|bf16", "storage type of weights and activations on cuda",
          "fp16 on cuda, fp32 on cpu"};
}

}  // namespace wma::app
