// The two backends implement the same kernel list (kernels.inc); ops/ dispatches on device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ops/params.h"

namespace wma {

enum class BinaryOp : std::uint8_t { Add, Sub, Mul };

namespace cpu {
#include "backends/kernels.inc"
}  // namespace cpu

#if WMA_WITH_CUDA
namespace cuda {
#include "backends/kernels.inc"
}  // namespace cuda
#endif

}  // namespace wma

#if WMA_WITH_CUDA
namespace wma::cuda {
// Initialises the device (once) and registers the CUDA default allocator; throws when no GPU.
void init();
bool available();
// dst and src contiguous, same dtype and shape; at least one of them on the GPU.
void copy_across_devices(const Tensor& dst, const Tensor& src);
void synchronize();

struct MemoryStats {
  std::size_t allocated_bytes = 0;       // live tensors (weights included), like torch.cuda.memory_allocated
  std::size_t peak_allocated_bytes = 0;  // since start or the last reset_peak_memory()
  std::size_t device_used_bytes = 0;     // the whole device as cudaMemGetInfo reports it (context, caches, others)
  std::size_t device_total_bytes = 0;
};
MemoryStats memory_stats();

// Captures the work queued on the backend stream between begin_capture() and end_capture() into a CUDA graph,
// replayed by launch(). Kernels see the same pointers on every replay: inputs and outputs must stay at the
// addresses they had under capture.
class Graph {
 public:
  Graph() = default;
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  void begin_capture();
  // Ends the capture and instantiates the graph; throws (naming the failing call) if capture broke.
  void end_capture();
  // Ends a capture without instantiating it, after an error inside the captured region.
  void abandon_capture() noexcept;
  void launch();

 private:
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
  bool capturing_ = false;
};
std::string device_name();
int sm_count();
int max_threads_per_sm();
// Timing events on the backend stream (for the op profile): record_event() returns an id; elapsed_ms reads two
// recorded events once the stream has passed them; release_events() recycles every id.
int record_event();
// record_event() behind a short GPU-side wait, so that the host has queued the op's launches before the GPU
// reaches the event: the op's time then holds no host launch gaps (eager profiling is otherwise host-bound).
int record_start_event();
float elapsed_ms(int start, int end);
void release_events();
// torch.randn(out.shape, device="cuda") of a generator at (seed, philox_offset), with the launch shape ATen
// picks for out.numel() (TorchCudaGenerator::launch_for). out: contiguous f32 on the GPU.
void torch_randn(const Tensor& out, std::uint64_t seed, std::uint64_t philox_offset, std::uint32_t blocks,
                 std::uint32_t threads_per_block);
void reset_peak_memory();
}  // namespace wma::cuda
#endif
