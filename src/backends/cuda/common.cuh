// Shared device helpers for the CUDA kernels: float <-> storage-type conversion, dtype
// dispatch onto template lambdas, strided index maps passed by value, launch sizing and
// block reductions. Kernels compute in fp32 whatever the storage type.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "backends/backend.h"
#include "backends/cuda/context.h"
#include "backends/cuda/cuda_check.h"
#include "core/tensor.h"

namespace wma::cuda {

// ---- programmatic dependent launch (sm_90+) ------------------------------------------------
// A kernel launched by launch_dependent may be scheduled while the kernel before it in the stream finishes: that
// kernel calls trigger_dependents() once the rest of its work is a tail (its blocks' results written), and the
// dependent calls wait_for_previous_grid() before it reads anything the previous kernel writes. Before Hopper
// (and where capability() is capped below 9.0) both are no-ops and the launch is an ordinary one.
__device__ __forceinline__ void trigger_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wait_for_previous_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

template <typename... Params, typename... Args>
void launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem, Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream();
  cudaLaunchAttribute overlap{};
  overlap.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  overlap.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &overlap;
  config.numAttrs = capability() >= 90 ? 1 : 0;
  WMA_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
}

// ---- element conversion ----------------------------------------------------------------

template <typename T>
__device__ __forceinline__ float to_float(T v) {
  if constexpr (std::is_same_v<T, __half>) return __half2float(v);
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return __bfloat162float(v);
  else return static_cast<float>(v);
}

// Round to nearest even, as torch casts.
template <typename T>
__device__ __forceinline__ T from_float(float v) {
  if constexpr (std::is_same_v<T, __half>) return __float2half_rn(v);
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return __float2bfloat16_rn(v);
  else return static_cast<T>(v);
}

// Loads element i of a buffer whose dtype is known only at run time (norm affine
// parameters may differ from the activation dtype).
__device__ __forceinline__ float load_any(const void* p, DType t, std::int64_t i) {
  switch (t) {
    case DType::F32: return static_cast<const float*>(p)[i];
    case DType::F16: return __half2float(static_cast<const __half*>(p)[i]);
    case DType::BF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    case DType::I32: return static_cast<float>(static_cast<const std::int32_t*>(p)[i]);
    case DType::I64: return static_cast<float>(static_cast<const std::int64_t*>(p)[i]);
  }
  return 0.0f;
}

// ---- activations (same formulas as the CPU reference) ------------------------------------

// The activation as a template argument: a kernel that takes it at run time keeps every branch (erf, tanh,
// log1p inlined per unrolled element) in its loop, and the instruction footprint alone made GroupNorm's apply
// pass compute-bound at a sixth of the memory bandwidth (measured on an H200).
template <ops::Activation kAct>
__device__ __forceinline__ float activate(float x) {
  if constexpr (kAct == ops::Activation::SiLU) {
    return x / (1.0f + expf(-x));
  } else if constexpr (kAct == ops::Activation::GELU) {
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
  } else if constexpr (kAct == ops::Activation::GELUTanh) {
    const float inner = 0.79788456080286536f * (x + 0.044715f * x * x * x);
    return 0.5f * x * (1.0f + tanhf(inner));
  } else if constexpr (kAct == ops::Activation::Mish) {
    // softplus with torch's threshold of 20, where log1p(exp(x)) == x in fp32.
    const float sp = x > 20.0f ? x : log1pf(expf(x));
    return x * tanhf(sp);
  } else if constexpr (kAct == ops::Activation::ReLU) {
    return x > 0.0f ? x : 0.0f;
  } else {
    return x;
  }
}

// Calls fn.template operator()<A>() with A = act, so the kernel it launches is specialised on it.
template <typename Fn>
void dispatch_activation(ops::Activation act, Fn&& fn) {
  switch (act) {
    case ops::Activation::None: fn.template operator()<ops::Activation::None>(); return;
    case ops::Activation::SiLU: fn.template operator()<ops::Activation::SiLU>(); return;
    case ops::Activation::GELU: fn.template operator()<ops::Activation::GELU>(); return;
    case ops::Activation::GELUTanh: fn.template operator()<ops::Activation::GELUTanh>(); return;
    case ops::Activation::Mish: fn.template operator()<ops::Activation::Mish>(); return;
    case ops::Activation::ReLU: fn.template operator()<ops::Activation::ReLU>(); return;
  }
  WMA_CHECK(false, "unknown activation ", static_cast<int>(act));
}

// ---- dtype dispatch --------------------------------------------------------------------

// Calls fn.template operator()<T>() with T the storage type of a float dtype.
template <typename Fn>
void dispatch_float(DType t, const char* op, Fn&& fn) {
  switch (t) {
    case DType::F32: fn.template operator()<float>(); return;
    case DType::F16: fn.template operator()<__half>(); return;
    case DType::BF16: fn.template operator()<__nv_bfloat16>(); return;
    default: fail("[", op, "] CUDA kernel needs f32, f16 or bf16, got ", dtype_name(t));
  }
}

// The tensor-core kernels' two types: fn.template operator()<__half>() for f16, <__nv_bfloat16> for bf16.
template <typename Fn>
void dispatch_half(DType t, Fn&& fn) {
  WMA_CHECK(t == DType::F16 || t == DType::BF16, "expected f16 or bf16, got ", dtype_name(t));
  if (t == DType::F16) fn.template operator()<__half>();
  else fn.template operator()<__nv_bfloat16>();
}

// fn.template operator()<b>(): a kernel specialised on a flag known only at run time.
template <typename Fn>
void dispatch_bool(bool b, Fn&& fn) {
  if (b) fn.template operator()<true>();
  else fn.template operator()<false>();
}

template <typename Fn>
void dispatch_any(DType t, Fn&& fn) {
  switch (t) {
    case DType::F32: fn.template operator()<float>(); return;
    case DType::F16: fn.template operator()<__half>(); return;
    case DType::BF16: fn.template operator()<__nv_bfloat16>(); return;
    case DType::I32: fn.template operator()<std::int32_t>(); return;
    case DType::I64: fn.template operator()<std::int64_t>(); return;
  }
}

// ---- strided index maps ----------------------------------------------------------------

constexpr int kMaxDims = 8;

// Up to three strided operands over one shape, passed to kernels by value. Dimensions of
// size 1 are dropped and adjacent dimensions that are contiguous in every operand merged,
// so common cases run with rank 1 or 2.
struct StridedMap {
  int rank = 0;
  std::int64_t shape[kMaxDims] = {};
  std::int64_t strides[3][kMaxDims] = {};

  __device__ __forceinline__ void offsets(std::int64_t linear, std::int64_t* off, int n) const {
    for (int k = 0; k < n; ++k) off[k] = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const std::int64_t i = linear % shape[d];
      linear /= shape[d];
      for (int k = 0; k < n; ++k) off[k] += i * strides[k][d];
    }
  }
};

StridedMap make_strided_map(const Shape& shape, const Shape* const* strides, int n, const char* op);

// ---- launch helpers --------------------------------------------------------------------

constexpr int kThreads = 256;
// Hardware limits every launch configuration must respect.
constexpr std::int64_t kMaxGridX = 2147483647;
constexpr std::int64_t kMaxGridY = 65535;
constexpr std::int64_t kMaxGridZ = 65535;
constexpr std::size_t kDefaultSharedMemory = 48 * 1024;  // above it a kernel must opt in

inline unsigned grid_for(std::int64_t n, int threads = kThreads) {
  const std::int64_t blocks = (n + threads - 1) / threads;
  // Grid-stride loops cover the rest; a few waves per SM keep every SM busy.
  const std::int64_t cap = static_cast<std::int64_t>(context().sm_count_) * 32;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > cap ? cap : blocks));
}

// Calls body(i) for each of this thread's indices of [0, n): grid_for caps the grid, so one thread may own several.
// A plain loop around an inlined lambda compiles as the loop it replaces; a range-for over an iterator struct cost
// some kernels 2-4 registers (ptxas -v, sm_80 and sm_90a).
template <typename Body>
__device__ __forceinline__ void grid_stride_loop(std::int64_t n, Body&& body) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    body(i);
}

inline void check_float_same(const char* op, std::initializer_list<const Tensor*> ts) {
  const DType t = (*ts.begin())->dtype();
  for (const Tensor* x : ts) {
    if (x == nullptr) continue;
    WMA_CHECK(x->device() == Device::CUDA, "[", op, "] expected a CUDA tensor, got ", x->describe());
    WMA_CHECK(x->dtype() == t, "[", op, "] mixed dtypes: ", x->describe(), " vs ", dtype_name(t));
  }
}

inline void check_contiguous(const char* op, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* x : ts)
    if (x != nullptr)
      WMA_CHECK(x->is_contiguous(), "[", op, "] CUDA kernel needs a contiguous tensor, got ", x->describe());
}

// ---- block reductions --------------------------------------------------------------------

// A butterfly over the warp's 32 lanes: every lane ends with op folded over all of them.
template <typename Op>
__device__ __forceinline__ float warp_reduce(float v, Op op) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// The same over the block, returned to every thread; `identity` pads the missing warps. `scratch` holds 32
// floats; the trailing barrier lets the caller reuse it straight away.
template <typename Op>
__device__ __forceinline__ float block_reduce(float v, float* scratch, float identity, Op op) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = warp_reduce(v, op);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float r = lane < warps ? scratch[lane] : identity;
  r = warp_reduce(r, op);
  __syncthreads();
  return r;
}

struct Plus {
  __device__ __forceinline__ float operator()(float a, float b) const { return a + b; }
};
struct Max {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

__device__ __forceinline__ float warp_sum(float v) { return warp_reduce(v, Plus{}); }
__device__ __forceinline__ float warp_max(float v) { return warp_reduce(v, Max{}); }
__device__ __forceinline__ float block_sum(float v, float* scratch) { return block_reduce(v, scratch, 0.0f, Plus{}); }
__device__ __forceinline__ float block_max(float v, float* scratch) {
  return block_reduce(v, scratch, -INFINITY, Max{});
}

}  // namespace wma::cuda
