// Elementwise kernels: binary ops over broadcast views, axpby, the heads' DDIM step, activations and GEGLU,
// plus the strided index map the data-movement kernels (movement.cu) share. All are memory-bound; they favour
// generality (strided index maps) with a flat fast path when every operand is contiguous.

#include "backends/cuda/common.cuh"

namespace wma::cuda {

StridedMap make_strided_map(const Shape& shape, const Shape* const* strides, int n, const char* op) {
  StridedMap m;
  // Walk from the innermost dimension, dropping size-1 dims and merging a dim into the
  // one inside it when every operand steps through both as one run.
  std::int64_t dims[64], st[3][64];
  int r = 0;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    bool merge = r > 0;
    for (int k = 0; k < n && merge; ++k) merge = (*strides[k])[d] == st[k][r - 1] * dims[r - 1];
    if (merge) {
      dims[r - 1] *= shape[d];
      continue;
    }
    WMA_CHECK(r < 64, "[", op, "] too many dimensions");
    dims[r] = shape[d];
    for (int k = 0; k < n; ++k) st[k][r] = (*strides[k])[d];
    ++r;
  }
  WMA_CHECK(r <= kMaxDims, "[", op, "] CUDA strided kernels handle at most ", kMaxDims,
            " non-mergeable dimensions, got ", r, " for shape ", shape_str(shape));
  m.rank = r;
  for (int i = 0; i < r; ++i) {
    m.shape[r - 1 - i] = dims[i];
    for (int k = 0; k < n; ++k) m.strides[k][r - 1 - i] = st[k][i];
  }
  return m;
}

namespace {

bool map_is_flat(const StridedMap& m, int n) {
  if (m.rank > 1) return false;
  for (int k = 0; k < n; ++k)
    if (m.rank == 1 && m.strides[k][0] != 1) return false;
  return true;
}

__device__ __forceinline__ float binary_apply(float a, float b, BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
  }
  return 0.0f;
}

template <typename T, bool Flat>
__global__ void binary_kernel(T* out, const T* a, const T* b, StridedMap m, std::int64_t n, BinaryOp op) {
  grid_stride_loop(n, [&](const std::int64_t i) {
    std::int64_t off[3] = {i, i, i};
    if constexpr (!Flat) m.offsets(i, off, 3);
    out[off[0]] = from_float<T>(binary_apply(to_float(a[off[1]]), to_float(b[off[2]]), op));
  });
}

// Same-shape contiguous operands (residual adds, branch sums): 16 bytes per operand per thread.
template <typename T, int kVec>
__global__ void binary_vec_kernel(T* out, const T* a, const T* b, std::int64_t vecs, BinaryOp op) {
  static_assert(kVec * sizeof(T) == sizeof(uint4), "kVec elements are one 16-byte load");
  grid_stride_loop(vecs, [&](const std::int64_t i) {
    alignas(16) T va[kVec], vb[kVec];
    *reinterpret_cast<uint4*>(va) = reinterpret_cast<const uint4*>(a)[i];
    *reinterpret_cast<uint4*>(vb) = reinterpret_cast<const uint4*>(b)[i];
#pragma unroll
    for (int k = 0; k < kVec; ++k) va[k] = from_float<T>(binary_apply(to_float(va[k]), to_float(vb[k]), op));
    reinterpret_cast<uint4*>(out)[i] = *reinterpret_cast<const uint4*>(va);
  });
}

template <typename T>
__global__ void axpby_kernel(T* out, float alpha, const T* x, float beta, const T* y, std::int64_t n) {
  grid_stride_loop(n, [&](const std::int64_t i) {
    out[i] = from_float<T>(alpha * to_float(x[i]) + beta * to_float(y[i]));
  });
}

// Explicit _rn intrinsics: torch runs these as separate float32 ops, so no multiply-add may be fused.
__global__ void eps_ddim_step_kernel(float* out, const float* eps, const float* sample, std::int64_t n,
                                     ops::EpsDdimStep c) {
  grid_stride_loop(n, [&](const std::int64_t i) {
    const float num = __fsub_rn(sample[i], __fmul_rn(c.sqrt_beta_prod, eps[i]));
    float x0 = c.multiply_by_reciprocal ? __fmul_rn(num, c.inv_sqrt_alpha_prod) : __fdiv_rn(num, c.sqrt_alpha_prod);
    if (c.clip) x0 = x0 < -c.clip_range ? -c.clip_range : (x0 > c.clip_range ? c.clip_range : x0);
    out[i] = __fadd_rn(__fmul_rn(c.sqrt_alpha_prod_prev, x0), __fmul_rn(c.dir_coefficient, eps[i]));
  });
}

template <typename T, ops::Activation kAct>
__global__ void activation_kernel(T* out, const T* x, std::int64_t n) {
  grid_stride_loop(n, [&](const std::int64_t i) { out[i] = from_float<T>(activate<kAct>(to_float(x[i]))); });
}

template <typename T>
__global__ void geglu_kernel(T* out, const T* x, std::int64_t n, std::int64_t half) {
  grid_stride_loop(n, [&](const std::int64_t i) {
    const std::int64_t row = i / half, j = i - row * half;
    const T* xr = x + row * 2 * half;
    out[i] = from_float<T>(to_float(xr[j]) * activate<ops::Activation::GELU>(to_float(xr[half + j])));
  });
}

// 16 bytes of values and of gates per thread: the op is pure traffic (read 2N, write N per row).
template <typename T, int kVec>
__global__ void geglu_vec_kernel(T* out, const T* x, std::int64_t vecs, std::int64_t half_vecs) {
  static_assert(kVec * sizeof(T) == sizeof(uint4), "kVec elements are one 16-byte load");
  grid_stride_loop(vecs, [&](const std::int64_t i) {
    const std::int64_t row = i / half_vecs, j = i - row * half_vecs;
    const uint4* xr = reinterpret_cast<const uint4*>(x) + row * 2 * half_vecs;
    alignas(16) T value[kVec], gate[kVec];
    *reinterpret_cast<uint4*>(value) = xr[j];
    *reinterpret_cast<uint4*>(gate) = xr[half_vecs + j];
#pragma unroll
    for (int k = 0; k < kVec; ++k)
      value[k] = from_float<T>(to_float(value[k]) * activate<ops::Activation::GELU>(to_float(gate[k])));
    reinterpret_cast<uint4*>(out)[i] = *reinterpret_cast<const uint4*>(value);
  });
}

}  // namespace

void binary(const Tensor& out, const Tensor& a, const Tensor& b, BinaryOp op) {
  check_float_same("binary", {&out, &a, &b});
  WMA_CHECK(a.shape() == out.shape() && b.shape() == out.shape(), "[binary] operands ", a.describe(), " and ",
            b.describe(), " must be expanded to ", out.describe());
  const std::int64_t n = out.numel();
  if (n == 0) return;
  const Shape* st[3] = {&out.strides(), &a.strides(), &b.strides()};
  const StridedMap m = make_strided_map(out.shape(), st, 3, "binary");
  const bool flat = map_is_flat(m, 3);
  dispatch_float(out.dtype(), "binary", [&]<typename T>() {
    constexpr int kVec = static_cast<int>(16 / sizeof(T));
    const auto aligned = [](const Tensor& t) { return (reinterpret_cast<std::uintptr_t>(t.data_ptr()) & 15u) == 0; };
    if (flat && n % kVec == 0 && aligned(out) && aligned(a) && aligned(b))
      binary_vec_kernel<T, kVec>
          <<<grid_for(n / kVec), kThreads, 0, stream()>>>(out.data<T>(), a.data<T>(), b.data<T>(), n / kVec, op);
    else if (flat)
      binary_kernel<T, true><<<grid_for(n), kThreads, 0, stream()>>>(out.data<T>(), a.data<T>(), b.data<T>(), m, n, op);
    else
      binary_kernel<T, false>
          <<<grid_for(n), kThreads, 0, stream()>>>(out.data<T>(), a.data<T>(), b.data<T>(), m, n, op);
    WMA_CUDA_CHECK_LAUNCH();
  });
}

void axpby(const Tensor& out, float alpha, const Tensor& x, float beta, const Tensor& y) {
  check_float_same("axpby", {&out, &x, &y});
  check_contiguous("axpby", {&out, &x, &y});
  WMA_CHECK(x.numel() == out.numel() && y.numel() == out.numel(), "[axpby] size mismatch: ", out.describe(), ", ",
            x.describe(), ", ", y.describe());
  const std::int64_t n = out.numel();
  if (n == 0) return;
  dispatch_float(out.dtype(), "axpby", [&]<typename T>() {
    axpby_kernel<T><<<grid_for(n), kThreads, 0, stream()>>>(out.data<T>(), alpha, x.data<T>(), beta, y.data<T>(), n);
    WMA_CUDA_CHECK_LAUNCH();
  });
}

void eps_ddim_step(const Tensor& out, const Tensor& eps, const Tensor& sample, const ops::EpsDdimStep& step) {
  check_contiguous("eps_ddim_step", {&out, &eps, &sample});
  WMA_CHECK(out.dtype() == DType::F32 && eps.dtype() == DType::F32 && sample.dtype() == DType::F32,
            "[eps_ddim_step] expects f32, got ", eps.describe());
  const std::int64_t n = out.numel();
  if (n == 0) return;
  eps_ddim_step_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out.data<float>(), eps.data<float>(),
                                                               sample.data<float>(), n, step);
  WMA_CUDA_CHECK_LAUNCH();
}

void activation(const Tensor& out, const Tensor& x, ops::Activation act) {
  check_float_same("activation", {&out, &x});
  check_contiguous("activation", {&out, &x});
  const std::int64_t n = out.numel();
  if (n == 0) return;
  dispatch_float(out.dtype(), "activation", [&]<typename T>() {
    dispatch_activation(act, [&]<ops::Activation kAct>() {
      activation_kernel<T, kAct><<<grid_for(n), kThreads, 0, stream()>>>(out.data<T>(), x.data<T>(), n);
      WMA_CUDA_CHECK_LAUNCH();
    });
  });
}

void geglu(const Tensor& out, const Tensor& x) {
  check_float_same("geglu", {&out, &x});
  check_contiguous("geglu", {&out, &x});
  const std::int64_t half = out.size(-1);
  WMA_CHECK(x.size(-1) == 2 * half && x.numel() == 2 * out.numel(), "[geglu] ", x.describe(), " -> ", out.describe());
  const std::int64_t n = out.numel();
  if (n == 0) return;
  dispatch_float(out.dtype(), "geglu", [&]<typename T>() {
    constexpr int kVec = static_cast<int>(16 / sizeof(T));
    const bool aligned = half % kVec == 0 && (reinterpret_cast<std::uintptr_t>(x.data_ptr()) & 15u) == 0 &&
                         (reinterpret_cast<std::uintptr_t>(out.data_ptr()) & 15u) == 0;
    if (aligned && !context().general_kernels_only_) {
      const std::int64_t vecs = n / kVec;
      geglu_vec_kernel<T, kVec>
          <<<grid_for(vecs), kThreads, 0, stream()>>>(out.data<T>(), x.data<T>(), vecs, half / kVec);
    } else {
      geglu_kernel<T><<<grid_for(n), kThreads, 0, stream()>>>(out.data<T>(), x.data<T>(), n, half);
    }
    WMA_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace wma::cuda
