// GroupNorm (+SiLU), LayerNorm and softmax: one block per (sample, group) or per row,
// statistics in fp32 by two passes (mean, then centred sum of squares) which stays
// accurate where E[x^2] - mean^2 would cancel. Norm affine parameters may be any float dtype.
#include "backends/cuda/common.cuh"

namespace wma::cuda {
namespace {

constexpr int kNormThreads = 512;

struct Affine {
  const void* weight;
  const void* bias;
  DType weight_dtype, bias_dtype;
};

template <typename T>
__global__ void __launch_bounds__(kNormThreads) group_norm_kernel(T* out, const T* x, std::int64_t len, int channels,
                                                                  int groups, float eps, Affine affine,
                                                                  ops::Activation act) {
  __shared__ float scratch[32];
  const int g = blockIdx.x % groups;
  const std::int64_t n = blockIdx.x / groups;
  const int cg = channels / groups;
  const std::int64_t count = len * cg;
  const std::int64_t base = n * len * channels + static_cast<std::int64_t>(g) * cg;
  auto at = [&](std::int64_t e) { return base + (e / cg) * channels + e % cg; };

  float s = 0.0f;
  for (std::int64_t e = threadIdx.x; e < count; e += blockDim.x) s += to_float(x[at(e)]);
  const float mean = block_sum(s, scratch) / static_cast<float>(count);
  float q = 0.0f;
  for (std::int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    const float d = to_float(x[at(e)]) - mean;
    q += d * d;
  }
  const float rstd = rsqrtf(block_sum(q, scratch) / static_cast<float>(count) + eps);
  for (std::int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    const int c = g * cg + static_cast<int>(e % cg);
    float y = (to_float(x[at(e)]) - mean) * rstd;
    if (affine.weight != nullptr) y *= load_any(affine.weight, affine.weight_dtype, c);
    if (affine.bias != nullptr) y += load_any(affine.bias, affine.bias_dtype, c);
    out[at(e)] = from_float<T>(apply_activation(y, act));
  }
}

template <typename T>
__global__ void layer_norm_kernel(T* out, const T* x, int cols, float eps, Affine affine) {
  __shared__ float scratch[32];
  const std::int64_t row = blockIdx.x;
  const T* xr = x + row * cols;
  T* yr = out + row * cols;
  float s = 0.0f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) s += to_float(xr[c]);
  const float mean = block_sum(s, scratch) / static_cast<float>(cols);
  float q = 0.0f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    const float d = to_float(xr[c]) - mean;
    q += d * d;
  }
  const float rstd = rsqrtf(block_sum(q, scratch) / static_cast<float>(cols) + eps);
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    float y = (to_float(xr[c]) - mean) * rstd;
    if (affine.weight != nullptr) y *= load_any(affine.weight, affine.weight_dtype, c);
    if (affine.bias != nullptr) y += load_any(affine.bias, affine.bias_dtype, c);
    yr[c] = from_float<T>(y);
  }
}

template <typename T>
__global__ void softmax_kernel(T* out, const T* x, int cols) {
  __shared__ float scratch[32];
  const std::int64_t row = blockIdx.x;
  const T* xr = x + row * cols;
  T* yr = out + row * cols;
  float mx = -INFINITY;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) mx = fmaxf(mx, to_float(xr[c]));
  mx = block_max(mx, scratch);
  float s = 0.0f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) s += expf(to_float(xr[c]) - mx);
  // A row of only -inf gives NaN, as torch.softmax does.
  const float inv = 1.0f / block_sum(s, scratch);
  for (int c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = from_float<T>(expf(to_float(xr[c]) - mx) * inv);
}

int row_threads(std::int64_t cols) {
  std::int64_t t = 32;
  while (t < cols && t < 1024) t <<= 1;
  return static_cast<int>(t);
}

Affine make_affine(const Tensor* weight, const Tensor* bias, std::int64_t channels, const char* op) {
  for (const Tensor* p : {weight, bias}) {
    if (p == nullptr) continue;
    WMA_CHECK(p->device() == Device::CUDA && dtype_is_float(p->dtype()) && p->is_contiguous() &&
                  p->numel() == channels,
              "[", op, "] affine parameter ", p->describe(), " must be a contiguous float CUDA tensor of ", channels,
              " elements");
  }
  return Affine{weight ? weight->data_ptr() : nullptr, bias ? bias->data_ptr() : nullptr,
                weight ? weight->dtype() : DType::F32, bias ? bias->dtype() : DType::F32};
}

}  // namespace

void group_norm(const Tensor& out, const Tensor& x, int groups, const Tensor* weight, const Tensor* bias, float eps,
                ops::Activation act) {
  check_float_same("group_norm", {&out, &x});
  check_contiguous("group_norm", {&out, &x});
  WMA_CHECK(x.dim() == 3 && out.shape() == x.shape() && groups > 0 && x.size(2) % groups == 0, "[group_norm] x ",
            x.describe(), ", out ", out.describe(), ", groups ", groups);
  const std::int64_t blocks = x.size(0) * groups;
  const Affine affine = make_affine(weight, bias, x.size(2), "group_norm");
  if (x.numel() == 0) return;
  WMA_CHECK(blocks <= INT32_MAX, "[group_norm] too many (sample, group) pairs");
  dispatch_float(x.dtype(), "group_norm", [&]<typename T>() {
    group_norm_kernel<T><<<static_cast<unsigned>(blocks), kNormThreads, 0, stream()>>>(
        out.data<T>(), x.data<T>(), x.size(1), static_cast<int>(x.size(2)), groups, eps, affine, act);
    WMA_CUDA_CHECK_LAUNCH();
  });
}

void layer_norm(const Tensor& out, const Tensor& x, const Tensor* weight, const Tensor* bias, float eps) {
  check_float_same("layer_norm", {&out, &x});
  check_contiguous("layer_norm", {&out, &x});
  WMA_CHECK(x.dim() >= 1 && out.shape() == x.shape(), "[layer_norm] x ", x.describe(), ", out ", out.describe());
  const std::int64_t cols = x.size(-1);
  const Affine affine = make_affine(weight, bias, cols, "layer_norm");
  if (x.numel() == 0) return;
  const std::int64_t rows = x.numel() / cols;
  WMA_CHECK(rows <= INT32_MAX && cols <= INT32_MAX, "[layer_norm] tensor too large: ", x.describe());
  dispatch_float(x.dtype(), "layer_norm", [&]<typename T>() {
    layer_norm_kernel<T><<<static_cast<unsigned>(rows), row_threads(cols), 0, stream()>>>(
        out.data<T>(), x.data<T>(), static_cast<int>(cols), eps, affine);
    WMA_CUDA_CHECK_LAUNCH();
  });
}

void softmax(const Tensor& out, const Tensor& x) {
  check_float_same("softmax", {&out, &x});
  check_contiguous("softmax", {&out, &x});
  WMA_CHECK(x.dim() >= 1 && out.shape() == x.shape(), "[softmax] x ", x.describe(), ", out ", out.describe());
  if (x.numel() == 0) return;
  const std::int64_t cols = x.size(-1);
  const std::int64_t rows = x.numel() / cols;
  WMA_CHECK(rows <= INT32_MAX && cols <= INT32_MAX, "[softmax] tensor too large: ", x.describe());
  dispatch_float(x.dtype(), "softmax", [&]<typename T>() {
    softmax_kernel<T><<<static_cast<unsigned>(rows), row_threads(cols), 0, stream()>>>(out.data<T>(), x.data<T>(),
                                                                                       static_cast<int>(cols));
    WMA_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace wma::cuda
