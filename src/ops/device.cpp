#include "ops/device.h"

#include "backends/backend.h"
#include "core/error.h"

namespace wma::ops {

#if WMA_WITH_CUDA
struct DeviceGraph::Impl {
  cuda::Graph graph;
};
#else
struct DeviceGraph::Impl {};

namespace {
[[noreturn]] void no_cuda_backend() {
  fail("[device] this build has no CUDA backend (configure with -DWMA_CUDA=ON on a machine with the toolkit)");
}
}  // namespace
#endif

void init_device(Device device) {
  if (device == Device::CPU) return;
#if WMA_WITH_CUDA
  cuda::init();
#else
  no_cuda_backend();
#endif
}

bool device_available(Device device) {
  if (device == Device::CPU) return true;
#if WMA_WITH_CUDA
  return cuda::available();
#else
  return false;
#endif
}

void synchronize(Device device) {
  // Without the CUDA backend nothing can have been queued on a GPU.
#if WMA_WITH_CUDA
  if (device == Device::CUDA) cuda::synchronize();
#else
  (void)device;
#endif
}

int sm_count(Device device) {
  if (device == Device::CPU) return 0;
#if WMA_WITH_CUDA
  return cuda::sm_count();
#else
  no_cuda_backend();
#endif
}

int max_threads_per_sm(Device device) {
  if (device == Device::CPU) return 0;
#if WMA_WITH_CUDA
  return cuda::max_threads_per_sm();
#else
  no_cuda_backend();
#endif
}

std::string device_description(Device device) {
  if (device == Device::CPU) return "cpu";
#if WMA_WITH_CUDA
  return cuda::device_name();
#else
  no_cuda_backend();
#endif
}

DeviceMemoryStats memory_stats(Device device) {
  if (device == Device::CPU) return {};
#if WMA_WITH_CUDA
  const cuda::MemoryStats m = cuda::memory_stats();
  return {m.allocated_bytes, m.peak_allocated_bytes, m.device_used_bytes, m.device_total_bytes};
#else
  no_cuda_backend();
#endif
}

void reset_peak_memory(Device device) {
  if (device == Device::CPU) return;
#if WMA_WITH_CUDA
  cuda::reset_peak_memory();
#else
  no_cuda_backend();
#endif
}

DeviceGraph::DeviceGraph() : impl_(std::make_unique<Impl>()) {}
DeviceGraph::~DeviceGraph() = default;

void DeviceGraph::begin_capture() {
#if WMA_WITH_CUDA
  impl_->graph.begin_capture();
#else
  no_cuda_backend();
#endif
}

void DeviceGraph::end_capture() {
#if WMA_WITH_CUDA
  impl_->graph.end_capture();
#else
  no_cuda_backend();
#endif
}

void DeviceGraph::abandon_capture() noexcept {
#if WMA_WITH_CUDA
  impl_->graph.abandon_capture();
#endif
}

void DeviceGraph::launch() {
#if WMA_WITH_CUDA
  impl_->graph.launch();
#else
  no_cuda_backend();
#endif
}

void torch_randn(const Tensor& out, std::uint64_t seed, std::uint64_t philox_offset, std::uint32_t blocks,
                 std::uint32_t threads_per_block) {
#if WMA_WITH_CUDA
  cuda::torch_randn(out, seed, philox_offset, blocks, threads_per_block);
#else
  (void)out, (void)seed, (void)philox_offset, (void)blocks, (void)threads_per_block;
  no_cuda_backend();
#endif
}

}  // namespace wma::ops
