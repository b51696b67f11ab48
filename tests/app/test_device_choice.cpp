// Device and precision defaults (app/device_choice.h): CUDA in fp16 when a GPU is usable, else the CPU in fp32;
// what the user gives always wins. The start-up line names the GPU with its compute capability.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "app/device_choice.h"
#include "ops/device.h"

namespace wma::app {
namespace {

Flags parse(std::vector<std::string> args) {
  args.insert(args.begin(), "test");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return Flags(static_cast<int>(argv.size()), argv.data(),
               {"test", "[options]", {auto_device_flag(), auto_precision_flag()}});
}

void expect_choice(const std::vector<std::string>& args, bool gpu, const std::string& device,
                   const std::string& precision) {
  const DeviceChoice c = choose_device(parse(args), gpu);
  EXPECT_EQ(c.device, device) << (gpu ? "gpu" : "no gpu");
  EXPECT_EQ(c.precision, precision) << (gpu ? "gpu" : "no gpu");
}

TEST(DeviceChoice, DefaultsFollowTheGpu) {
  expect_choice({}, true, "cuda", "fp16");
  expect_choice({}, false, "cpu", "fp32");
}

TEST(DeviceChoice, GivenFlagsWinAndKeepTheirDevicesPrecision) {
  expect_choice({"--device", "cpu"}, true, "cpu", "fp32");
  expect_choice({"--device", "cuda"}, false, "cuda", "fp16");
  expect_choice({"--precision", "bf16"}, true, "cuda", "bf16");
  expect_choice({"--precision", "fp32"}, false, "cpu", "fp32");
  expect_choice({"--dev", "cuda", "--prec", "fp32"}, true, "cuda", "fp32");
}

TEST(DeviceChoice, StartupLineNamesDevicePrecisionAndBuild) {
  const std::string features = build_features();
  EXPECT_FALSE(features.empty());
  EXPECT_EQ(features.find("CUDA") != std::string::npos, static_cast<bool>(WMA_WITH_CUDA));
  EXPECT_EQ(features.find("HTTP") != std::string::npos, static_cast<bool>(WMA_WITH_HTTP));
  EXPECT_EQ(startup_line("interact", {"cpu", "fp32"}, "unused"), "wma interact: cpu, fp32; build: " + features);
  const std::string gpu = "NVIDIA H200, sm_90, 132 SMs, CUDA driver API 13.0, 139.8 GiB";
  EXPECT_EQ(startup_line("serve", {"cuda", "fp16"}, gpu), "wma serve: cuda (" + gpu + "), fp16; build: " + features);
}

TEST(DeviceChoice, GpuDescriptionNamesCapabilityAndMemory) {
  EXPECT_EQ(gpu_description(Device::CPU), "");
  if (!gpu_usable()) GTEST_SKIP() << "no usable GPU";
  ops::init_device(Device::CUDA);
  const std::string gpu = gpu_description(Device::CUDA);
  EXPECT_NE(gpu.find(", sm_"), std::string::npos) << gpu;
  EXPECT_NE(gpu.find(" SMs, CUDA driver API "), std::string::npos) << gpu;
  EXPECT_EQ(gpu.substr(gpu.size() - 4), " GiB") << gpu;
}

}  // namespace
}  // namespace wma::app
