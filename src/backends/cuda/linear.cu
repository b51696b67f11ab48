// linear and batched matmul through cuBLASLt: row-major products expressed as column-major
// ones, fp32 compute (no TF32, so f32 results match the CPU reference), bias / ReLU /
// tanh-GELU fused as cuBLASLt epilogues, residuals as C with beta = 1, and one small
// elementwise kernel for what cuBLASLt cannot fuse (exact GELU, SiLU, Mish, act + residual).
#include <array>
#include <limits>
#include <memory>
#include <optional>
#include <type_traits>

#include "backends/cuda/autotune.h"
#include "backends/cuda/common.cuh"
#include "backends/cuda/implicit_gemm.h"
#include "backends/cuda/plan_cache.h"

namespace wma::cuda {
namespace {

// A stored matrix as cuBLASLt sees it: column-major rows x cols with leading dimension ld,
// used transposed or not, plus its batch stride in elements.
struct LtMatrix {
  bool trans = false;
  std::int64_t rows = 0, cols = 0, ld = 0, batch_stride = 0;

  bool operator==(const LtMatrix&) const = default;
};

// cuBLASLt descriptors owned by unique_ptr, so a plan (or a failed build) frees what it created.
struct LtDestroy {
  void operator()(cublasLtMatmulDesc_t d) const { cublasLtMatmulDescDestroy(d); }
  void operator()(cublasLtMatrixLayout_t l) const { cublasLtMatrixLayoutDestroy(l); }
  void operator()(cublasLtMatmulPreference_t p) const { cublasLtMatmulPreferenceDestroy(p); }
};
template <typename Handle>
using LtOwned = std::unique_ptr<std::remove_pointer_t<Handle>, LtDestroy>;

struct GemmPlan {
  LtOwned<cublasLtMatmulDesc_t> op;
  LtOwned<cublasLtMatrixLayout_t> a, b, c;
  cublasLtMatmulAlgo_t algo{};
};

// Everything that selects a plan; the pointers only enter through their alignment.
struct GemmKey {
  DType dtype;
  LtMatrix a, b;
  std::int64_t m, n;
  int batch;
  std::int64_t c_batch_stride;
  cublasLtEpilogue_t epilogue;
  std::int64_t align_a, align_b, align_c;
  int device;

  bool operator==(const GemmKey&) const = default;
  std::size_t hash() const {
    return hash_fields({static_cast<std::int64_t>(dtype),
                        a.trans,
                        a.rows,
                        a.cols,
                        a.ld,
                        a.batch_stride,
                        b.trans,
                        b.rows,
                        b.cols,
                        b.ld,
                        b.batch_stride,
                        m,
                        n,
                        batch,
                        c_batch_stride,
                        static_cast<std::int64_t>(epilogue),
                        align_a,
                        align_b,
                        align_c,
                        device});
  }
};

PlanCache<GemmKey, GemmPlan> g_plans;

std::int64_t alignment_of(const void* p, std::int64_t batch_stride_bytes, int batch) {
  std::uint64_t v = reinterpret_cast<std::uintptr_t>(p);
  if (batch > 1) v |= static_cast<std::uint64_t>(batch_stride_bytes);
  std::int64_t a = 1;
  while (a < 256 && (v & static_cast<std::uint64_t>(a)) == 0) a <<= 1;
  return a;
}

cudaDataType_t lt_type(DType t) {
  switch (t) {
    case DType::F32: return CUDA_R_32F;
    case DType::F16: return CUDA_R_16F;
    case DType::BF16: return CUDA_R_16BF;
    default: fail("[gemm] CUDA GEMM needs f32, f16 or bf16, got ", dtype_name(t));
  }
}

LtOwned<cublasLtMatrixLayout_t> make_layout(cudaDataType_t type, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                                            int batch, std::int64_t batch_stride) {
  cublasLtMatrixLayout_t raw = nullptr;
  WMA_CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(&raw, type, static_cast<std::uint64_t>(rows), static_cast<std::uint64_t>(cols), ld));
  LtOwned<cublasLtMatrixLayout_t> l(raw);
  if (batch > 1) {
    const std::int32_t count = batch;
    WMA_CUBLAS_CHECK(
        cublasLtMatrixLayoutSetAttribute(l.get(), CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
    WMA_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l.get(), CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                      &batch_stride, sizeof(batch_stride)));
  }
  return l;
}

// The index of the fastest of cuBLASLt's candidates for the plan's layouts, timed on the real operands with the
// result written to scratch (D may be the residual it accumulates onto) and beta = 0, which reads no C.
int fastest_algo(const GemmPlan& plan, const cublasLtMatmulHeuristicResult_t* candidates, int count, const void* pa,
                 const void* pb, const void* bias, std::size_t d_bytes) {
  void* scratch = nullptr;
  WMA_CUDA_CHECK(cudaMallocAsync(&scratch, d_bytes, stream()));
  if (bias != nullptr)
    WMA_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(plan.op.get(), CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  const float alpha = 1.0f, beta = 0.0f;
  int best = 0;
  float best_ms = std::numeric_limits<float>::infinity();
  for (int i = 0; i < count; ++i) {
    const float ms = best_time_ms([&] {
      return cublasLtMatmul(context().lt_, plan.op.get(), &alpha, pa, plan.a.get(), pb, plan.b.get(), &beta, scratch,
                            plan.c.get(), scratch, plan.c.get(), &candidates[i].algo, context().workspace_,
                            context().workspace_bytes_, stream()) == CUBLAS_STATUS_SUCCESS;
    });
    if (ms < best_ms) best = i, best_ms = ms;
  }
  WMA_CUDA_CHECK(cudaFreeAsync(scratch, stream()));
  return best;
}

// The algorithm for the key's D[m, n] = op(A) op(B) (+ beta C) (+ epilogue), with C and D sharing one layout: the
// fastest of the heuristic's first candidates when tuning is allowed (autotune.h), else its first. Null when
// cuBLASLt has no algorithm for the combination.
std::unique_ptr<GemmPlan> build_plan(const GemmKey& key, const void* pa, const void* pb, const void* bias) {
  const LtMatrix& a = key.a;
  const LtMatrix& b = key.b;
  const std::int64_t m = key.m, n = key.n, c_batch_stride = key.c_batch_stride;
  const int batch = key.batch;
  const cudaDataType_t type = lt_type(key.dtype);
  auto plan = std::make_unique<GemmPlan>();
  cublasLtMatmulDesc_t op = nullptr;
  WMA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  plan->op.reset(op);
  const cublasOperation_t ta = a.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t tb = b.trans ? CUBLAS_OP_T : CUBLAS_OP_N;
  WMA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  WMA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  WMA_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &key.epilogue, sizeof(key.epilogue)));
  plan->a = make_layout(type, a.rows, a.cols, a.ld, batch, a.batch_stride);
  plan->b = make_layout(type, b.rows, b.cols, b.ld, batch, b.batch_stride);
  plan->c = make_layout(type, m, n, m, batch, c_batch_stride);

  cublasLtMatmulPreference_t raw_pref = nullptr;
  WMA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&raw_pref));
  const LtOwned<cublasLtMatmulPreference_t> pref(raw_pref);
  const std::uint64_t ws = context().workspace_bytes_;
  WMA_CUBLAS_CHECK(
      cublasLtMatmulPreferenceSetAttribute(raw_pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  const std::uint32_t aligns[3] = {static_cast<std::uint32_t>(key.align_a), static_cast<std::uint32_t>(key.align_b),
                                   static_cast<std::uint32_t>(key.align_c)};
  WMA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                        &aligns[0], sizeof(aligns[0])));
  WMA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                        &aligns[1], sizeof(aligns[1])));
  WMA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                        &aligns[2], sizeof(aligns[2])));
  WMA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                        &aligns[2], sizeof(aligns[2])));
  std::array<cublasLtMatmulHeuristicResult_t, kAutotuneCandidates> results{};
  int found = 0;
  const bool tune = autotune_allowed();
  const cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(context().lt_, op, plan->a.get(), plan->b.get(), plan->c.get(), plan->c.get(),
                                     raw_pref, tune ? kAutotuneCandidates : 1, results.data(), &found);
  if (st != CUBLAS_STATUS_SUCCESS || found == 0) return nullptr;
  const std::int64_t es = static_cast<std::int64_t>(dtype_size(key.dtype));
  const std::size_t d_bytes = static_cast<std::size_t>((batch - 1) * c_batch_stride + m * n) * es;
  plan->algo = results[found > 1 ? fastest_algo(*plan, results.data(), found, pa, pb, bias, d_bytes) : 0].algo;
  return plan;
}

// The plan for these operands, built once per shape, layout, epilogue and alignment (null when cuBLASLt has none).
GemmPlan* find_plan(DType dtype, const LtMatrix& a, const LtMatrix& b, std::int64_t m, std::int64_t n, int batch,
                    std::int64_t c_batch_stride, cublasLtEpilogue_t epilogue, const void* pa, const void* pb,
                    const void* pc, const void* bias) {
  const std::int64_t es = static_cast<std::int64_t>(dtype_size(dtype));
  const GemmKey key{dtype,
                    a,
                    b,
                    m,
                    n,
                    batch,
                    c_batch_stride,
                    epilogue,
                    alignment_of(pa, a.batch_stride * es, batch),
                    alignment_of(pb, b.batch_stride * es, batch),
                    alignment_of(pc, c_batch_stride * es, batch),
                    context().device_};
  return g_plans.find_or_build(key, [&] { return build_plan(key, pa, pb, bias); });
}

void run_plan(const GemmPlan& plan, const void* pa, const void* pb, void* pc, const void* bias, float beta) {
  if (bias != nullptr)
    WMA_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(plan.op.get(), CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  const float alpha = 1.0f;
  WMA_CUBLAS_CHECK(cublasLtMatmul(context().lt_, plan.op.get(), &alpha, pa, plan.a.get(), pb, plan.b.get(), &beta, pc,
                                  plan.c.get(), pc, plan.c.get(), &plan.algo, context().workspace_,
                                  context().workspace_bytes_, stream()));
}

// out = act(out + bias) + residual over [rows, n]; residual may not alias out.
template <typename T, ops::Activation kAct>
__global__ void bias_act_residual_kernel(T* out, const T* bias, const T* residual, std::int64_t total, std::int64_t n) {
  grid_stride_loop(total, [&](const std::int64_t i) {
    float v = to_float(out[i]);
    if (bias != nullptr) v += to_float(bias[i % n]);
    v = activate<kAct>(v);
    if (residual != nullptr) v += to_float(residual[i]);
    out[i] = from_float<T>(v);
  });
}

void bias_act_residual(const Tensor& out, const Tensor* bias, const Tensor* residual, ops::Activation act) {
  const std::int64_t total = out.numel();
  if (total == 0 || (bias == nullptr && residual == nullptr && act == ops::Activation::None)) return;
  dispatch_float(out.dtype(), "linear", [&]<typename T>() {
    dispatch_activation(act, [&]<ops::Activation kAct>() {
      bias_act_residual_kernel<T, kAct>
          <<<grid_for(total), kThreads, 0, stream()>>>(out.data<T>(), bias ? bias->data<T>() : nullptr,
                                                       residual ? residual->data<T>() : nullptr, total, out.size(-1));
      WMA_CUDA_CHECK_LAUNCH();
    });
  });
}

bool same_view(const Tensor& a, const Tensor& b) {
  return a.data_ptr() == b.data_ptr() && a.strides() == b.strides() && a.dtype() == b.dtype();
}

bool overlaps(const Tensor& a, const Tensor& b) {
  const char* pa = static_cast<const char*>(a.data_ptr());
  const char* pb = static_cast<const char*>(b.data_ptr());
  return pa < pb + b.nbytes() && pb < pa + a.nbytes();
}

// A row-major [rows, cols] view with strides (sr, sc) as a cuBLASLt operand that must
// present itself as its transpose (cols x rows, column-major); nullopt when neither
// dimension is unit-stride.
std::optional<LtMatrix> as_transposed_operand(std::int64_t rows, std::int64_t cols, std::int64_t sr, std::int64_t sc) {
  if ((cols == 1 || sc == 1) && (rows == 1 || sr >= cols)) return LtMatrix{false, cols, rows, rows == 1 ? cols : sr, 0};
  if ((rows == 1 || sr == 1) && (cols == 1 || sc >= rows)) return LtMatrix{true, rows, cols, cols == 1 ? rows : sc, 0};
  return std::nullopt;
}

}  // namespace

void linear(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor* bias,
            const ops::LinearEpilogue& epilogue) {
  const Tensor* residual = epilogue.residual;
  check_float_same("linear", {&out, &x, &weight, bias, residual});
  check_contiguous("linear", {&out, &x, &weight, bias});
  const std::int64_t k = weight.size(1), n = weight.size(0);
  WMA_CHECK(weight.dim() == 2 && x.size(-1) == k && out.size(-1) == n && out.numel() % (n ? n : 1) == 0, "[linear] x ",
            x.describe(), ", weight ", weight.describe(), ", out ", out.describe());
  const std::int64_t m = n ? out.numel() / n : 0;
  WMA_CHECK(x.numel() == m * k, "[linear] x ", x.describe(), " does not match out ", out.describe());
  if (residual != nullptr)
    WMA_CHECK(residual->shape() == out.shape(), "[linear] residual ", residual->describe(), " vs out ", out.describe());
  if (out.numel() == 0) return;
  if (k == 0) {
    fill(out, 0.0f);
    bias_act_residual(out, bias, residual, epilogue.act);
    return;
  }
  const ops::Activation act = epilogue.act;
  const DType dt = out.dtype();
  // Column-major view: out^T [n, m] = W [n, k] (stored k x n, transposed) times x^T [k, m].
  const LtMatrix ma{true, k, n, k, 0};
  const LtMatrix mb{false, k, m, k, 0};
  const bool bias_aligned = bias == nullptr || reinterpret_cast<std::uintptr_t>(bias->data_ptr()) % 16 == 0;

  // Fully fused: bias and ReLU / tanh-GELU as epilogue, residual as C with beta = 1 (the
  // epilogue would act on the residual too, so residual and activation do not mix here).
  const bool lt_act = act == ops::Activation::None || act == ops::Activation::ReLU || act == ops::Activation::GELUTanh;
  if (bias_aligned && lt_act && (residual == nullptr || act == ops::Activation::None)) {
    cublasLtEpilogue_t e = CUBLASLT_EPILOGUE_DEFAULT;
    if (act == ops::Activation::ReLU) e = bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
    else if (act == ops::Activation::GELUTanh) e = bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
    else if (bias) e = CUBLASLT_EPILOGUE_BIAS;
    if (GemmPlan* plan = find_plan(dt, ma, mb, n, m, 1, 0, e, weight.data_ptr(), x.data_ptr(), out.data_ptr(),
                                   bias ? bias->data_ptr() : nullptr)) {
      if (residual != nullptr && !same_view(*residual, out)) {
        WMA_CHECK(!overlaps(*residual, out), "[linear] residual partially overlaps the output");
        copy_into(out, *residual);
      }
      run_plan(*plan, weight.data_ptr(), x.data_ptr(), out.data_ptr(), bias ? bias->data_ptr() : nullptr,
               residual ? 1.0f : 0.0f);
      return;
    }
  }

  // Otherwise the product goes to out (or a scratch tensor when the residual lives in out)
  // and one elementwise pass applies bias, activation and residual.
  const bool residual_in_out = residual != nullptr && overlaps(*residual, out);
  const Tensor target = residual_in_out ? Tensor::empty(out.shape(), dt, Device::CUDA) : out;
  if (GemmPlan* plan = find_plan(dt, ma, mb, n, m, 1, 0, CUBLASLT_EPILOGUE_DEFAULT, weight.data_ptr(), x.data_ptr(),
                                 target.data_ptr(), nullptr)) {
    run_plan(*plan, weight.data_ptr(), x.data_ptr(), target.data_ptr(), nullptr, 0.0f);
  } else {
    // cuBLASLt declined (odd sizes or alignment): a linear layer is a 1x1 convolution.
    ConvGeometry g;
    g.w = static_cast<int>(m);
    g.wo = static_cast<int>(m);
    g.cin = static_cast<int>(k);
    g.cout = static_cast<int>(n);
    WMA_CHECK(m <= INT32_MAX && k <= INT32_MAX, "[linear] fallback GEMM limited to 2^31 rows");
    implicit_gemm(target.reshape({m, n}), x.reshape({m, k}), weight, nullptr, nullptr, g);
  }
  if (residual_in_out) {
    bias_act_residual(target, bias, nullptr, act);
    binary(out, target, *residual, BinaryOp::Add);
  } else {
    if (residual != nullptr)
      WMA_CHECK(residual->is_contiguous(), "[linear] residual must be contiguous, got ", residual->describe());
    bias_act_residual(out, bias, residual, act);
  }
}

void matmul(const Tensor& out, const Tensor& a, const Tensor& b) {
  check_float_same("matmul", {&out, &a, &b});
  check_contiguous("matmul", {&out});
  WMA_CHECK(a.dim() == 3 && b.dim() == 3 && out.dim() == 3, "[matmul] a ", a.describe(), ", b ", b.describe(), ", out ",
            out.describe());
  const std::int64_t batch = a.size(0), m = a.size(1), k = a.size(2), n = b.size(2);
  WMA_CHECK(b.size(1) == k && (b.size(0) == batch || b.size(0) == 1) && out.size(0) == batch && out.size(1) == m &&
                out.size(2) == n,
            "[matmul] a ", a.describe(), ", b ", b.describe(), ", out ", out.describe());
  WMA_CHECK(batch <= INT32_MAX, "[matmul] batch too large");
  if (out.numel() == 0) return;
  if (k == 0) {
    fill(out, 0.0f);
    return;
  }
  // Column-major view: out^T [n, m] = b^T [n, k] times a^T [k, m].
  Tensor av = a, bv = b;
  auto ma = as_transposed_operand(k, n, b.stride(1), b.stride(2));
  if (!ma) {
    bv = Tensor::empty(b.shape(), b.dtype(), Device::CUDA);
    copy_into(bv, b);
    ma = as_transposed_operand(k, n, bv.stride(1), bv.stride(2));
  }
  auto mb = as_transposed_operand(m, k, a.stride(1), a.stride(2));
  if (!mb) {
    av = Tensor::empty(a.shape(), a.dtype(), Device::CUDA);
    copy_into(av, a);
    mb = as_transposed_operand(m, k, av.stride(1), av.stride(2));
  }
  ma->batch_stride = bv.size(0) == 1 ? 0 : bv.stride(0);
  mb->batch_stride = batch == 1 ? 0 : av.stride(0);
  GemmPlan* plan = find_plan(out.dtype(), *ma, *mb, n, m, static_cast<int>(batch), m * n, CUBLASLT_EPILOGUE_DEFAULT,
                             bv.data_ptr(), av.data_ptr(), out.data_ptr(), nullptr);
  WMA_CHECK(plan != nullptr, "[matmul] cuBLASLt has no algorithm for a ", a.describe(), " x b ", b.describe(),
            " (strides ", shape_str(a.strides()), ", ", shape_str(b.strides()), ")");
  run_plan(*plan, bv.data_ptr(), av.data_ptr(), out.data_ptr(), nullptr, 0.0f);
}

}  // namespace wma::cuda
