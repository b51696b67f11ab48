// GroupNorm (+SiLU), LayerNorm and softmax, statistics in fp32 by two passes (mean, then
// centred sum of squares), which stays accurate where E[x^2] - mean^2 would cancel. GroupNorm
// splits each (sample, group) over several blocks whose partial statistics merge exactly
// (Chan et al.), then normalises in one vectorised pass; the general one-block-per-group
// kernel remains for comparison. Norm affine parameters may be any float dtype.
#include <algorithm>

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

// Block (chunk, n * groups + g) reduces rows [chunk * rows_per_chunk, ...) of one group:
// threads cover (channel, row) pairs with no index division, consecutive threads on
// consecutive channels. Writes {mean, M2, count} of its chunk.
constexpr int kStatThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kStatThreads) group_stats_kernel(float* partial, const T* x, std::int64_t len,
                                                                   int channels, int groups, std::int64_t rows_per_chunk) {
  __shared__ float scratch[32];
  const int ng = blockIdx.y;
  const int g = ng % groups;
  const std::int64_t n = ng / groups;
  const int cg = channels / groups;
  const std::int64_t r0 = static_cast<std::int64_t>(blockIdx.x) * rows_per_chunk;
  const std::int64_t r1 = r0 + rows_per_chunk < len ? r0 + rows_per_chunk : len;
  const int tx_count = cg < kStatThreads ? cg : kStatThreads;
  const int ty_count = kStatThreads / tx_count;
  const int tx = threadIdx.x % tx_count, ty = threadIdx.x / tx_count;
  const bool active = ty < ty_count;
  const T* base = x + (n * len) * channels + static_cast<std::int64_t>(g) * cg;

  float s = 0.0f;
  if (active)
    for (std::int64_t r = r0 + ty; r < r1; r += ty_count)
      for (int j = tx; j < cg; j += tx_count) s += to_float(base[r * channels + j]);
  const float count = static_cast<float>((r1 - r0) * cg);
  const float mean = block_sum(s, scratch) / count;
  float q = 0.0f;
  if (active)
    for (std::int64_t r = r0 + ty; r < r1; r += ty_count)
      for (int j = tx; j < cg; j += tx_count) {
        const float d = to_float(base[r * channels + j]) - mean;
        q += d * d;
      }
  const float m2 = block_sum(q, scratch);
  if (threadIdx.x == 0) {
    float* p = partial + (static_cast<std::int64_t>(ng) * gridDim.x + blockIdx.x) * 3;
    p[0] = mean;
    p[1] = m2;
    p[2] = count;
  }
}

// One thread per (n, c): merges its group's chunks and folds the affine parameters into
// {mean, rstd * weight, bias} for the normalising pass.
__global__ void group_params_kernel(float4* params, const float* partial, std::int64_t n_count, int channels,
                                    int groups, int chunks, float eps, Affine affine) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_count * channels) return;
  const int c = static_cast<int>(i % channels);
  const std::int64_t n = i / channels;
  const int g = c / (channels / groups);
  const float* p = partial + (n * groups + g) * chunks * 3;
  float total = 0.0f, mean = 0.0f;
  for (int k = 0; k < chunks; ++k) total += p[3 * k + 2];
  for (int k = 0; k < chunks; ++k) mean += p[3 * k] * (p[3 * k + 2] / total);
  float m2 = 0.0f;
  for (int k = 0; k < chunks; ++k) {
    const float d = p[3 * k] - mean;
    m2 += p[3 * k + 1] + p[3 * k + 2] * d * d;
  }
  const float rstd = rsqrtf(m2 / total + eps);
  const float w = affine.weight != nullptr ? load_any(affine.weight, affine.weight_dtype, c) : 1.0f;
  const float b = affine.bias != nullptr ? load_any(affine.bias, affine.bias_dtype, c) : 0.0f;
  params[i] = make_float4(mean, rstd * w, b, 0.0f);
}

// y = act((x - mean) * scale + bias), kVec elements (16 bytes) per thread when the channel
// count allows it.
template <typename T, int kVec>
__global__ void group_apply_kernel(T* out, const T* x, const float4* params, std::int64_t total, std::int64_t len,
                                   int channels, ops::Activation act) {
  const std::int64_t per_sample = len * channels;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x * kVec;
  for (std::int64_t e = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * kVec; e < total;
       e += stride) {
    const float4* p = params + (e / per_sample) * channels + e % channels;
    alignas(16) T v[kVec];
    if constexpr (kVec > 1) {
      *reinterpret_cast<uint4*>(v) = *reinterpret_cast<const uint4*>(x + e);
    } else {
      v[0] = x[e];
    }
#pragma unroll
    for (int i = 0; i < kVec; ++i) {
      const float4 q = p[i];
      v[i] = from_float<T>(apply_activation((to_float(v[i]) - q.x) * q.y + q.z, act));
    }
    if constexpr (kVec > 1) {
      *reinterpret_cast<uint4*>(out + e) = *reinterpret_cast<const uint4*>(v);
    } else {
      out[e] = v[0];
    }
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
  const std::int64_t len = x.size(1);
  const int channels = static_cast<int>(x.size(2));
  // Small groups fill the GPU with one block each and the split path's three launches cost
  // more than they save (H200, f16, 2026-11-26: [16, 160, 1280] / 32 groups = 6400 elements a
  // group, 35 us general vs 40 us split; [16, 2560, 320] = 25600 a group, 131 vs 116 us).
  // The split kernel also indexes (sample, group) by blockIdx.y.
  constexpr std::int64_t kSplitMinGroupElements = 8192;
  const std::int64_t group_elements = len * (channels / groups);
  if (context().general_kernels_only_ || blocks > 65535 || group_elements <= kSplitMinGroupElements) {
    dispatch_float(x.dtype(), "group_norm", [&]<typename T>() {
      group_norm_kernel<T><<<static_cast<unsigned>(blocks), kNormThreads, 0, stream()>>>(
          out.data<T>(), x.data<T>(), len, channels, groups, eps, affine, act);
      WMA_CUDA_CHECK_LAUNCH();
    });
    return;
  }
  // Enough chunks for a few blocks per SM, each at least kMinChunkRows rows long.
  constexpr std::int64_t kMinChunkRows = 32;
  const std::int64_t want = (4 * context().sm_count_ + blocks - 1) / blocks;
  const std::int64_t most = (len + kMinChunkRows - 1) / kMinChunkRows;
  const std::int64_t chunks = std::max<std::int64_t>(1, std::min(want, most));
  const std::int64_t rows_per_chunk = (len + chunks - 1) / chunks;
  const std::int64_t used_chunks = (len + rows_per_chunk - 1) / rows_per_chunk;
  const Tensor partial = Tensor::empty({blocks * used_chunks * 3}, DType::F32, Device::CUDA);
  const Tensor params = Tensor::empty({x.size(0) * channels * 4}, DType::F32, Device::CUDA);
  const std::int64_t total = x.numel();
  dispatch_float(x.dtype(), "group_norm", [&]<typename T>() {
    group_stats_kernel<T><<<dim3(static_cast<unsigned>(used_chunks), static_cast<unsigned>(blocks)), kStatThreads, 0,
                            stream()>>>(partial.data<float>(), x.data<T>(), len, channels, groups, rows_per_chunk);
    WMA_CUDA_CHECK_LAUNCH();
    const std::int64_t pairs = x.size(0) * channels;
    group_params_kernel<<<static_cast<unsigned>((pairs + kThreads - 1) / kThreads), kThreads, 0, stream()>>>(
        reinterpret_cast<float4*>(params.data<float>()), partial.data<float>(), x.size(0), channels, groups,
        static_cast<int>(used_chunks), eps, affine);
    WMA_CUDA_CHECK_LAUNCH();
    constexpr int kVec = static_cast<int>(16 / sizeof(T));
    const bool vec = channels % kVec == 0 && (reinterpret_cast<std::uintptr_t>(x.data_ptr()) & 15u) == 0 &&
                     (reinterpret_cast<std::uintptr_t>(out.data_ptr()) & 15u) == 0;
    const auto* p = reinterpret_cast<const float4*>(params.data<float>());
    if (vec) {
      group_apply_kernel<T, kVec><<<grid_for(total / kVec), kThreads, 0, stream()>>>(out.data<T>(), x.data<T>(), p,
                                                                                     total, len, channels, act);
    } else {
      group_apply_kernel<T, 1><<<grid_for(total), kThreads, 0, stream()>>>(out.data<T>(), x.data<T>(), p, total, len,
                                                                           channels, act);
    }
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
