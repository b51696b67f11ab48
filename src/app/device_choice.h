// Which device and precision a command runs on, and the one line every command prints about it.
#pragma once

#include <string>

#include "app/cli.h"
#include "core/device.h"

namespace wma::app {

struct DeviceChoice {
  std::string device;     // "cpu" or "cuda"
  std::string precision;  // "fp32", "fp16" or "bf16"
};

// --device and --precision as given; otherwise the fastest mode that meets the fidelity bar on the device
// found: CUDA in fp16 when a usable GPU is present (60 dB against upstream's fp32 videos,
// docs/performance.md), else the CPU in fp32, its only precision. A given --device keeps its own default
// precision (fp16 on cuda, fp32 on cpu).
DeviceChoice choose_device(const Flags& f, bool gpu_usable);

// Whether this build and machine can run on CUDA (false without the backend, a driver or a device, or with a GPU
// older than compute capability 8.0).
bool gpu_usable();
// "<name>, sm_<capability>, <SMs> SMs, CUDA driver API <version>, <memory> GiB" for CUDA, after the device is
// initialised (ops::device_description and the memory); "" for the CPU.
std::string gpu_description(Device device);

// The build's optional features, e.g. "CUDA cuDNN HDF5 libav HTTP" ("none" without any).
std::string build_features();

// "wma <command>: cuda (<gpu>), fp16; build: CUDA cuDNN HDF5 libav HTTP"; `gpu` describes the GPU when the
// choice is cuda (name, compute capability, memory) and is ignored on the CPU.
std::string startup_line(const std::string& command, const DeviceChoice& choice, const std::string& gpu);

// The flags' help entries, stating the automatic defaults.
FlagDef auto_device_flag();
FlagDef auto_precision_flag();

}  // namespace wma::app
