// cuda::init() and the other backend entry points that are not kernels: device set-up (and the
// refusal of a GPU this build cannot run on), the caching stream-ordered allocator registered as the
// CUDA default, cross-device copies, sync.
#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/cuda/context.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/flash_attention.h"
#include "core/allocator.h"
#include "core/log.h"

namespace wma::cuda {
namespace {

// cuBLASLt picks faster split-K and stream-K kernels when it has scratch; 32 MiB is what
// NVIDIA recommends for Hopper, and cuDNN's conv engines are chosen to fit in it too.
constexpr std::size_t kLtWorkspaceBytes = 32u << 20;

std::atomic<std::size_t> g_live_bytes{0}, g_peak_bytes{0};

void count_allocation(std::size_t bytes) {
  const std::size_t live = g_live_bytes.fetch_add(bytes) + bytes;
  std::size_t peak = g_peak_bytes.load();
  while (live > peak && !g_peak_bytes.compare_exchange_weak(peak, live)) {
  }
}

// Stream-ordered allocations from the device's default memory pool, which keeps freed blocks cached (release
// threshold: never), so the sampling loop reuses memory without cudaMalloc/cudaFree and their device-wide
// synchronisation. Everything runs on the one backend stream, so a block freed here is reused only by work
// queued after the last kernel that read it.
class CudaAllocator : public Allocator {
 public:
  std::shared_ptr<Storage> allocate(std::size_t bytes) override {
    auto storage = std::make_shared<Storage>();
    storage->bytes = bytes;
    storage->device = Device::CUDA;
    if (bytes == 0) return storage;
    void* p = nullptr;
    const cudaError_t e = cudaMallocAsync(&p, bytes, stream());
    if (e != cudaSuccess) {
      cudaGetLastError();  // clear the error so later calls are not blamed
      std::size_t free_bytes = 0, total_bytes = 0;
      cudaMemGetInfo(&free_bytes, &total_bytes);
      fail("[alloc] GPU allocation of ", bytes, " bytes failed: ", cudaGetErrorString(e), " (", free_bytes >> 20,
           " MiB free of ", total_bytes >> 20, " MiB)");
    }
    count_allocation(bytes);
    storage->data = p;
    storage->owner = std::shared_ptr<void>(p, [bytes](void* q) {
      cudaFreeAsync(q, stream());
      g_live_bytes.fetch_sub(bytes);
    });
    return storage;
  }
  Device device() const override { return Device::CUDA; }
};

Context g_context;
bool g_ready = false;
std::once_flag g_once;

// The kernels' floor: cp.async and 16-bit mma.sync (Ampere).
constexpr int kMinCapability = 80;

// WMA_CUDA_MAX_CAPABILITY=80 makes capability() at most 80, so the code paths of older cards can be tested on a
// newer one; INT_MAX when unset.
int max_capability() {
  const char* env = std::getenv("WMA_CUDA_MAX_CAPABILITY");
  if (env == nullptr || *env == '\0') return INT_MAX;
  char* end = nullptr;
  const long cap = std::strtol(env, &end, 10);
  WMA_CHECK(*end == '\0' && cap > 0 && cap < 1000, "[cuda] WMA_CUDA_MAX_CAPABILITY=", env,
            ": expected a compute capability as major*10+minor, e.g. 80");
  return static_cast<int>(cap);
}

int device_capability(int device) {
  int major = 0, minor = 0;
  WMA_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  WMA_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  return major * 10 + minor;
}

// Never launched: cudaFuncGetAttributes on it loads this build's code for the device (or says why none loads)
// and reports the architecture that code was compiled for, as CUB's PtxVersion() reads it.
__global__ void code_probe_kernel() {}

void init_once() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    cudaGetLastError();
    fail("[cuda] no usable GPU: ", e != cudaSuccess ? cudaGetErrorString(e) : "no devices found");
  }
  Context& c = g_context;
  WMA_CUDA_CHECK(cudaGetDevice(&c.device_));
  cudaDeviceProp prop{};
  WMA_CUDA_CHECK(cudaGetDeviceProperties(&prop, c.device_));
  const int device_cc = prop.major * 10 + prop.minor;
  const int cap = max_capability();
  if (std::min(device_cc, cap) < kMinCapability) {
    fail("[cuda] ", prop.name, " has compute capability ", prop.major, ".", prop.minor,
         cap < device_cc ? str_cat(" (WMA_CUDA_MAX_CAPABILITY=", cap, ")") : std::string(),
         "; wma's CUDA kernels need 8.0 or newer (Ampere, Ada, Jetson Orin, Hopper and later)");
  }
  cudaFuncAttributes code{};
  if (const cudaError_t loaded = cudaFuncGetAttributes(&code, code_probe_kernel); loaded != cudaSuccess) {
    cudaGetLastError();
    fail("[cuda] this build has no code that runs on ", prop.name, " (sm_", device_cc,
         "): ", cudaGetErrorString(loaded), ". It holds ", WMA_CUDA_CODE,
         ": configure with -DCMAKE_CUDA_ARCHITECTURES=", device_cc,
         ", or update the driver if the build's PTX is newer than it");
  }
  c.capability_ = std::min({device_cc, code.ptxVersion, cap});
  if (code.ptxVersion < device_cc) {
    log_info("[cuda] this build's code for sm_", device_cc, " was compiled for compute_", code.ptxVersion);
  }
  if (cap < device_cc) {
    log_info("[cuda] WMA_CUDA_MAX_CAPABILITY=", cap, ": our kernels take the sm_", c.capability_, " paths on this sm_",
             device_cc, " GPU (cuBLASLt and cuDNN still choose theirs for sm_", device_cc, ")");
  }
  c.wgmma_ = c.capability_ >= 90 && wgmma_attention_compiled();
  c.sm_count_ = prop.multiProcessorCount;
  c.max_threads_per_sm_ = prop.maxThreadsPerMultiProcessor;
  c.max_smem_per_block_ = prop.sharedMemPerBlockOptin;
  WMA_CUDA_CHECK(cudaStreamCreateWithFlags(&c.stream_, cudaStreamNonBlocking));
  WMA_CUBLAS_CHECK(cublasLtCreate(&c.lt_));
  WMA_CUDA_CHECK(cudaMalloc(&c.workspace_, kLtWorkspaceBytes));
  c.workspace_bytes_ = kLtWorkspaceBytes;
  WMA_CUDA_CHECK(cudaMalloc(&c.norm_counters_, sizeof(unsigned) * kNormCounterSlots));
  WMA_CUDA_CHECK(cudaMemset(c.norm_counters_, 0, sizeof(unsigned) * kNormCounterSlots));
#if defined(WMA_WITH_CUDNN) && WMA_WITH_CUDNN
  WMA_CUDNN_CHECK(cudnnCreate(&c.cudnn_));
  WMA_CUDNN_CHECK(cudnnSetStream(c.cudnn_, c.stream_));
#endif
  cudaMemPool_t pool = nullptr;
  WMA_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, c.device_));
  std::uint64_t keep_everything = UINT64_MAX;
  WMA_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_everything));
  // WMA_CUDA_FAST_KERNELS=0: every op on its general kernel (no cuDNN, flash attention, split norms, GEMM
  // 1-D convs), for bisecting a numeric difference down to one fast path.
  if (const char* env = std::getenv("WMA_CUDA_FAST_KERNELS"); env != nullptr && std::string(env) == "0") {
    c.general_kernels_only_ = true;
    log_info("[cuda] WMA_CUDA_FAST_KERNELS=0: general kernels only");
  }
  if (const char* env = std::getenv("WMA_CUDA_AUTOTUNE"); env != nullptr && std::string(env) == "0") {
    c.autotune_ = false;
    log_info("[cuda] WMA_CUDA_AUTOTUNE=0: GEMM and convolution algorithms as the heuristics rank them");
  }
  static CudaAllocator allocator;
  register_default_allocator(Device::CUDA, &allocator);
  g_ready = true;
  log_debug("[cuda] ", prop.name, ", ", prop.multiProcessorCount, " SMs, ", prop.totalGlobalMem >> 20, " MiB, sm_",
            device_cc);
}

}  // namespace

Context& context() {
  WMA_CHECK(g_ready, "[cuda] backend used before cuda::init()");
  return g_context;
}

void init() {
  // A failed first attempt (no GPU) rethrows here and leaves the flag unset, so a later
  // call tries again and fails just as loudly.
  std::call_once(g_once, init_once);
}

bool available() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    cudaGetLastError();
    return false;
  }
  // Below the floor, init() refuses the GPU. Whether this build holds code for it is known only once a context
  // exists, which a command that then runs on the CPU should not pay for: init() checks that.
  int device = 0;
  WMA_CUDA_CHECK(cudaGetDevice(&device));
  return std::min(device_capability(device), max_capability()) >= kMinCapability;
}

void copy_across_devices(const Tensor& dst, const Tensor& src) {
  WMA_CHECK(dst.shape() == src.shape() && dst.dtype() == src.dtype(), "[copy_across_devices] ", dst.describe(), " <- ",
            src.describe(), ": shapes and dtypes must match");
  WMA_CHECK(dst.is_contiguous() && src.is_contiguous(), "[copy_across_devices] needs contiguous tensors, got ",
            dst.describe(), " <- ", src.describe());
  WMA_CHECK(dst.device() == Device::CUDA || src.device() == Device::CUDA,
            "[copy_across_devices] neither side is on the GPU");
  if (dst.nbytes() == 0) return;
  cudaStream_t s = stream();
  WMA_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), dst.nbytes(), cudaMemcpyDefault, s));
  // Pageable host memory may still be read after the call returns; waiting makes the copy
  // safe for callers that free or reuse the host buffer next.
  WMA_CUDA_CHECK(cudaStreamSynchronize(s));
}

MemoryStats memory_stats() {
  MemoryStats m;
  m.allocated_bytes = g_live_bytes.load();
  m.peak_allocated_bytes = g_peak_bytes.load();
  std::size_t free_bytes = 0, total_bytes = 0;
  WMA_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  m.device_used_bytes = total_bytes - free_bytes;
  m.device_total_bytes = total_bytes;
  return m;
}

std::string device_name() {
  cudaDeviceProp prop{};
  WMA_CUDA_CHECK(cudaGetDeviceProperties(&prop, context().device_));
  int driver = 0;
  cudaDriverGetVersion(&driver);
  const int device_cc = prop.major * 10 + prop.minor;
  const int cc = context().capability_;
  return str_cat(prop.name, ", sm_", device_cc, cc < device_cc ? str_cat(" run as sm_", cc) : std::string(), ", ",
                 prop.multiProcessorCount, " SMs, CUDA driver API ", driver / 1000, ".", (driver % 1000) / 10);
}

Graph::~Graph() {
  abandon_capture();
  if (exec_) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  if (graph_) cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
}

void Graph::begin_capture() {
  WMA_CHECK(!capturing_ && !exec_, "[cuda graph] already captured");
  // Thread-local mode: another thread's unrelated CUDA calls neither break nor join this capture.
  WMA_CUDA_CHECK(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeThreadLocal));
  capturing_ = true;
}

void Graph::end_capture() {
  WMA_CHECK(capturing_, "[cuda graph] end_capture without begin_capture");
  capturing_ = false;
  cudaGraph_t graph = nullptr;
  WMA_CUDA_CHECK(cudaStreamEndCapture(stream(), &graph));
  graph_ = graph;
  cudaGraphExec_t exec = nullptr;
  WMA_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  exec_ = exec;
}

void Graph::abandon_capture() noexcept {
  if (!capturing_) return;
  capturing_ = false;
  cudaGraph_t graph = nullptr;
  cudaStreamEndCapture(stream(), &graph);
  if (graph) cudaGraphDestroy(graph);
  cudaGetLastError();
}

void Graph::launch() {
  WMA_CHECK(exec_, "[cuda graph] launch before capture");
  WMA_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), stream()));
}

int sm_count() { return context().sm_count_; }
int max_threads_per_sm() { return context().max_threads_per_sm_; }

namespace {
std::vector<cudaEvent_t> g_events;
std::size_t g_events_used = 0;
}  // namespace

int record_event() {
  if (g_events_used == g_events.size()) {
    cudaEvent_t e = nullptr;
    WMA_CUDA_CHECK(cudaEventCreate(&e));
    g_events.push_back(e);
  }
  const int id = static_cast<int>(g_events_used++);
  WMA_CUDA_CHECK(cudaEventRecord(g_events[id], stream()));
  return id;
}

namespace {
constexpr long long kProfileLeadNanoseconds = 30000;

__global__ void spin_kernel(long long nanoseconds) {
  long long start = 0, now = 0;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    __nanosleep(1000);
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < nanoseconds);
}
}  // namespace

int record_start_event() {
  spin_kernel<<<1, 1, 0, stream()>>>(kProfileLeadNanoseconds);
  WMA_CUDA_CHECK_LAUNCH();
  return record_event();
}

float elapsed_ms(int start, int end) {
  float ms = 0;
  WMA_CUDA_CHECK(cudaEventSynchronize(g_events.at(end)));
  WMA_CUDA_CHECK(cudaEventElapsedTime(&ms, g_events.at(start), g_events.at(end)));
  return ms;
}

void release_events() { g_events_used = 0; }

void reset_peak_memory() { g_peak_bytes.store(g_live_bytes.load()); }

void synchronize() { WMA_CUDA_CHECK(cudaStreamSynchronize(stream())); }

}  // namespace wma::cuda
