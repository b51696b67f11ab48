// The device services above ops/ need (start-up, synchronisation, properties, memory statistics, graph capture,
// torch's CUDA RNG), for any Device: pipeline/ and app/ call these, never backends/. In a build without the CUDA
// backend, a call that needs a GPU for Device::CUDA throws "[device] this build has no CUDA backend ...".
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/device.h"
#include "core/tensor.h"

namespace wma::ops {

// Makes `device` ready for tensors (for CUDA: once per process, registering its allocator); throws when the
// build or the machine lacks it. Nothing to do for the CPU.
void init_device(Device device);
// Whether init_device(device) would succeed.
bool device_available(Device device);
// Waits until the work queued on `device` has finished (host-side timing); returns at once for the CPU.
void synchronize(Device device);
// The GPU's streaming multiprocessors and resident threads per multiprocessor; 0 for the CPU.
int sm_count(Device device);
int max_threads_per_sm(Device device);
// "cpu", or the GPU after init_device(), e.g. "NVIDIA H200, sm_90, 132 SMs, CUDA driver API 13.0" ("sm_90 run as
// sm_80" when the kernels take older cards' paths, cuda::capability()). Not core's device_name(Device), which names
// the kind only.
std::string device_description(Device device);

// Zero for the CPU, whose allocations are not counted.
struct DeviceMemoryStats {
  std::size_t allocated_bytes = 0;       // live tensors (weights included), like torch.cuda.memory_allocated
  std::size_t peak_allocated_bytes = 0;  // since start or the last reset_peak_memory()
  std::size_t device_used_bytes = 0;     // the whole device as cudaMemGetInfo reports it (context, caches, others)
  std::size_t device_total_bytes = 0;
};
DeviceMemoryStats memory_stats(Device device);
void reset_peak_memory(Device device);

// Captures the GPU work queued between begin_capture() and end_capture() into a CUDA graph, replayed by launch().
// Kernels see the same pointers on every replay: inputs and outputs must stay at the addresses they had under
// capture. begin_capture() throws in a build without the CUDA backend.
class DeviceGraph {
 public:
  DeviceGraph();
  ~DeviceGraph();
  DeviceGraph(const DeviceGraph&) = delete;
  DeviceGraph& operator=(const DeviceGraph&) = delete;
  void begin_capture();
  // Ends the capture and instantiates the graph; throws (naming the failing call) if capture broke.
  void end_capture();
  // Ends a capture without instantiating it, after an error inside the captured region.
  void abandon_capture() noexcept;
  void launch();

 private:
  // The CUDA graph; its type lives in backends/, which this header must not include.
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// torch.randn(out.shape, device="cuda") of a generator at (seed, philox_offset), with the launch shape ATen
// picks for out.numel() (TorchCudaGenerator::launch_for). out: contiguous f32 on the GPU.
void torch_randn(const Tensor& out, std::uint64_t seed, std::uint64_t philox_offset, std::uint32_t blocks,
                 std::uint32_t threads_per_block);

}  // namespace wma::ops
