// f16/bf16 convolutions on tensor cores through cuDNN's backend API (no frontend): one
// single-node operation graph per shape, and of the heuristic's engines that accumulate in fp32,
// are deterministic, need no run-time compilation and fit the shared workspace, the fastest of
// the first few by timing (autotune.h; the first one when tuning is off). Bias and
// residual follow in one vectorised pass, since cuDNN fuses them only through NVRTC engines.
#include <array>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "backends/cuda/autotune.h"
#include "backends/cuda/common.cuh"
#include "backends/cuda/implicit_gemm.h"
#include "backends/cuda/plan_cache.h"

namespace wma::cuda {

#if defined(WMA_WITH_CUDNN) && WMA_WITH_CUDNN
namespace {

class Desc {
 public:
  explicit Desc(cudnnBackendDescriptorType_t type) { WMA_CUDNN_CHECK(cudnnBackendCreateDescriptor(type, &d_)); }
  ~Desc() {
    if (d_ != nullptr) cudnnBackendDestroyDescriptor(d_);
  }
  Desc(Desc&& o) noexcept : d_(std::exchange(o.d_, nullptr)) {}
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
  Desc& operator=(Desc&&) = delete;

  cudnnBackendDescriptor_t get() const { return d_; }
  void set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, const void* values, std::int64_t n) {
    WMA_CUDNN_CHECK(cudnnBackendSetAttribute(d_, name, type, n, values));
  }
  void set_desc(cudnnBackendAttributeName_t name, const Desc& other) {
    cudnnBackendDescriptor_t o = other.get();
    set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, &o, 1);
  }
  void finalize() { WMA_CUDNN_CHECK(cudnnBackendFinalize(d_)); }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

enum Uid : std::int64_t { kUidX = 1, kUidW = 2, kUidY = 3 };

Desc make_tensor(Uid uid, cudnnDataType_t type, std::array<std::int64_t, 4> dims, std::array<std::int64_t, 4> strides,
                 std::int64_t alignment) {
  Desc t(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const std::int64_t id = uid;
  t.set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, &type, 1);
  t.set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, dims.data(), 4);
  t.set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, strides.data(), 4);
  t.set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, &id, 1);
  t.set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, &alignment, 1);
  t.finalize();
  return t;
}

// Everything a plan references stays alive with it.
struct ConvPlan {
  std::vector<Desc> parts;
  std::vector<Desc> configs;
  std::unique_ptr<Desc> plan;
};

bool engine_acceptable(cudnnBackendDescriptor_t config) {
  Desc engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  cudnnBackendDescriptor_t e = engine.get();
  std::int64_t n = 0;
  if (cudnnBackendGetAttribute(config, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &e) !=
      CUDNN_STATUS_SUCCESS)
    return false;
  std::array<cudnnBackendNumericalNote_t, CUDNN_NUMERICAL_NOTE_TYPE_COUNT> numerical{};
  if (cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE, numerical.size(), &n,
                               numerical.data()) != CUDNN_STATUS_SUCCESS)
    return false;
  for (std::int64_t i = 0; i < n; ++i) {
    switch (numerical[i]) {
      // fp16 accumulation, Winograd/FFT transforms and atomics would each change the
      // numbers the CPU reference checks, or make them vary from run to run.
      case CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION:
      case CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS:
      case CUDNN_NUMERICAL_NOTE_FFT:
      case CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6:
      case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13: return false;
      default: break;
    }
  }
  std::array<cudnnBackendBehaviorNote_t, CUDNN_BEHAVIOR_NOTE_TYPE_COUNT> behavior{};
  if (cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE, behavior.size(), &n,
                               behavior.data()) != CUDNN_STATUS_SUCCESS)
    return false;
  for (std::int64_t i = 0; i < n; ++i)
    // NVRTC engines compile for seconds on first use of every shape.
    if (behavior[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) return false;
  return true;
}

std::int64_t alignment_of(const void* p) {
  const auto v = reinterpret_cast<std::uintptr_t>(p);
  std::int64_t a = 2;
  while (a < 16 && (v & static_cast<std::uintptr_t>(a)) == 0) a <<= 1;
  return a;
}

// The operands of one convolution, as cuDNN's variant pack takes them.
struct ConvOperands {
  void* x = nullptr;
  void* w = nullptr;
  void* y = nullptr;
};

cudnnStatus_t execute(const Desc& plan, const ConvOperands& io) {
  Desc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  void* pointers[3] = {io.x, io.w, io.y};
  const std::int64_t uids[3] = {kUidX, kUidW, kUidY};
  void* workspace = context().workspace_;
  pack.set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, pointers, 3);
  pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, uids, 3);
  pack.set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, &workspace, 1);
  pack.finalize();
  return cudnnBackendExecute(context().cudnn_, plan.get(), pack.get());
}

// Null when no acceptable engine supports the shape. Tuning runs the candidates on io, whose y is overwritten.
std::unique_ptr<ConvPlan> build_plan(cudnnDataType_t type, const ConvGeometry& g, std::int64_t ax, std::int64_t aw,
                                     std::int64_t ay, const ConvOperands& io) {
  auto p = std::make_unique<ConvPlan>();
  const std::int64_t n = g.n, c = g.cin, k = g.cout;
  // Logical NCHW dimensions with channels-last strides.
  p->parts.push_back(make_tensor(kUidX, type, {n, c, g.h, g.w},
                                 {static_cast<std::int64_t>(g.h) * g.w * c, 1, static_cast<std::int64_t>(g.w) * c, c},
                                 ax));
  p->parts.push_back(
      make_tensor(kUidW, type, {k, c, g.kh, g.kw},
                  {static_cast<std::int64_t>(g.kh) * g.kw * c, 1, static_cast<std::int64_t>(g.kw) * c, c}, aw));
  p->parts.push_back(
      make_tensor(kUidY, type, {n, k, g.ho, g.wo},
                  {static_cast<std::int64_t>(g.ho) * g.wo * k, 1, static_cast<std::int64_t>(g.wo) * k, k}, ay));
  Desc conv(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  const std::int64_t dims = 2;
  const cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  // cuDNN derives the output size with post-padding; the extra rows a floor division
  // drops never reach the output.
  const std::array<std::int64_t, 2> pads{g.pad_h, g.pad_w}, strides{g.stride_h, g.stride_w}, dilations{1, 1};
  conv.set(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, &dims, 1);
  conv.set(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, &compute, 1);
  conv.set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, &mode, 1);
  conv.set(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, pads.data(), 2);
  conv.set(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, pads.data(), 2);
  conv.set(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, strides.data(), 2);
  conv.set(CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, dilations.data(), 2);
  conv.finalize();

  Desc op(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
  const float alpha = 1.0f, beta = 0.0f;
  op.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, p->parts[0]);
  op.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, p->parts[1]);
  op.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, p->parts[2]);
  op.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, conv);
  op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, &alpha, 1);
  op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, &beta, 1);
  op.finalize();

  cudnnHandle_t handle = context().cudnn_;
  Desc graph(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  graph.set_desc(CUDNN_ATTR_OPERATIONGRAPH_OPS, op);
  graph.set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, &handle, 1);
  if (cudnnBackendFinalize(graph.get()) != CUDNN_STATUS_SUCCESS) return nullptr;

  Desc heur(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  const cudnnBackendHeurMode_t heur_mode = CUDNN_HEUR_MODE_A;
  heur.set_desc(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph);
  heur.set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, &heur_mode, 1);
  if (cudnnBackendFinalize(heur.get()) != CUDNN_STATUS_SUCCESS) return nullptr;
  std::int64_t count = 0;
  WMA_CUDNN_CHECK(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                                           &count, nullptr));
  std::vector<cudnnBackendDescriptor_t> raw;
  for (std::int64_t i = 0; i < count; ++i) {
    p->configs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    raw.push_back(p->configs.back().get());
  }
  if (count > 0)
    WMA_CUDNN_CHECK(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                             count, &count, raw.data()));
  p->parts.push_back(std::move(conv));
  p->parts.push_back(std::move(op));
  p->parts.push_back(std::move(graph));
  p->parts.push_back(std::move(heur));
  const std::size_t wanted = autotune_allowed() ? kAutotuneCandidates : 1;
  std::vector<std::unique_ptr<Desc>> usable;
  for (std::int64_t i = 0; i < count && usable.size() < wanted; ++i) {
    if (!engine_acceptable(raw[i])) continue;
    auto plan = std::make_unique<Desc>(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
    plan->set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, &handle, 1);
    plan->set(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, &raw[i], 1);
    if (cudnnBackendFinalize(plan->get()) != CUDNN_STATUS_SUCCESS) continue;
    std::int64_t ws = 0, got = 0;
    WMA_CUDNN_CHECK(cudnnBackendGetAttribute(plan->get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1,
                                             &got, &ws));
    if (ws > static_cast<std::int64_t>(context().workspace_bytes_)) continue;
    usable.push_back(std::move(plan));
  }
  if (usable.empty()) return nullptr;
  std::size_t best = 0;
  float best_ms = std::numeric_limits<float>::infinity();
  for (std::size_t i = 0; usable.size() > 1 && i < usable.size(); ++i) {
    const float ms = best_time_ms([&] { return execute(*usable[i], io) == CUDNN_STATUS_SUCCESS; });
    if (ms < best_ms) best = i, best_ms = ms;
  }
  p->plan = std::move(usable[best]);
  return p;
}

// Everything that selects a plan; the pointers only enter through their alignment.
struct ConvKey {
  DType dtype;
  std::int64_t n;
  int h, w, cin, ho, wo, cout, kh, kw, stride_h, stride_w, pad_h, pad_w;
  std::int64_t align_x, align_w, align_y;

  bool operator==(const ConvKey&) const = default;
  std::size_t hash() const {
    return hash_fields({static_cast<std::int64_t>(dtype), n, h, w, cin, ho, wo, cout, kh, kw, stride_h, stride_w, pad_h,
                        pad_w, align_x, align_w, align_y});
  }
};

PlanCache<ConvKey, ConvPlan> g_plans;

// out[m, co] += bias[co] + residual[m, co], eight channels per thread when they line up.
template <typename T, int kVec>
__global__ void conv_epilogue_kernel(T* out, const T* bias, const T* residual, std::int64_t n, int cout) {
  // Written out rather than grid_stride_loop: the step hoisted out of the loop keeps the 16-bit scalar
  // instantiation at 20 registers instead of 24 (ptxas -v, sm_90a).
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x * kVec;
  for (std::int64_t e = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * kVec; e < n; e += stride) {
    const int c = static_cast<int>(e % cout);
    alignas(16) T o[kVec];
    alignas(16) T r[kVec];
    alignas(16) T b[kVec];
    if constexpr (kVec == 8) {
      *reinterpret_cast<uint4*>(o) = *reinterpret_cast<const uint4*>(out + e);
      if (residual != nullptr) *reinterpret_cast<uint4*>(r) = *reinterpret_cast<const uint4*>(residual + e);
      if (bias != nullptr) *reinterpret_cast<uint4*>(b) = *reinterpret_cast<const uint4*>(bias + c);
    } else {
      o[0] = out[e];
      if (residual != nullptr) r[0] = residual[e];
      if (bias != nullptr) b[0] = bias[c];
    }
#pragma unroll
    for (int i = 0; i < kVec; ++i) {
      float v = to_float(o[i]);
      if (bias != nullptr) v += to_float(b[i]);
      if (residual != nullptr) v += to_float(r[i]);
      o[i] = from_float<T>(v);
    }
    if constexpr (kVec == 8) {
      *reinterpret_cast<uint4*>(out + e) = *reinterpret_cast<const uint4*>(o);
    } else {
      out[e] = o[0];
    }
  }
}

}  // namespace

bool cudnn_conv(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor* bias, const Tensor* residual,
                const ConvGeometry& g) {
  const DType dt = out.dtype();
  if (dt != DType::F16 && dt != DType::BF16) return false;
  if (residual != nullptr && residual->data_ptr() == out.data_ptr()) return false;
  const std::int64_t ax = alignment_of(x.data_ptr()), aw = alignment_of(weight.data_ptr()),
                     ay = alignment_of(out.data_ptr());
  const ConvKey key{dt,   g.n,        g.h,        g.w,     g.cin,   g.ho, g.wo, g.cout, g.kh,
                    g.kw, g.stride_h, g.stride_w, g.pad_h, g.pad_w, ax,   aw,   ay};
  const ConvOperands io{const_cast<void*>(x.data_ptr()), const_cast<void*>(weight.data_ptr()), out.data_ptr()};
  const ConvPlan* plan = g_plans.find_or_build(key, [&] {
    return build_plan(dt == DType::F16 ? CUDNN_DATA_HALF : CUDNN_DATA_BFLOAT16, g, ax, aw, ay, io);
  });
  if (plan == nullptr) return false;
  WMA_CUDNN_CHECK(execute(*plan->plan, io));

  if (bias == nullptr && residual == nullptr) return true;
  const std::int64_t n = out.numel();
  dispatch_float(dt, "conv", [&]<typename T>() {
    const T* b = bias ? bias->data<T>() : nullptr;
    const T* r = residual ? residual->data<T>() : nullptr;
    const bool vec = g.cout % 8 == 0 && alignment_of(out.data_ptr()) == 16 && (b == nullptr || alignment_of(b) == 16) &&
                     (r == nullptr || alignment_of(r) == 16);
    if (vec) {
      conv_epilogue_kernel<T, 8><<<grid_for(n / 8), kThreads, 0, stream()>>>(out.data<T>(), b, r, n, g.cout);
    } else {
      conv_epilogue_kernel<T, 1><<<grid_for(n), kThreads, 0, stream()>>>(out.data<T>(), b, r, n, g.cout);
    }
    WMA_CUDA_CHECK_LAUNCH();
  });
  return true;
}

#else

bool cudnn_conv(const Tensor&, const Tensor&, const Tensor&, const Tensor*, const Tensor*, const ConvGeometry&) {
  return false;
}

#endif

}  // namespace wma::cuda
