// GroupNorm (+SiLU), LayerNorm and softmax, statistics in fp32. GroupNorm sums each channel over chunks
// of rows around a per-channel shift (so sums of squares do not cancel), merges channels into groups
// exactly (Chan et al.) and normalises in one vectorised pass; LayerNorm keeps a row in one warp's
// registers (two-pass mean/variance, one read). The general kernels (one block per group or row, two
// passes over memory) remain for other shapes and for comparison. Norm affine parameters may be any
// float dtype.
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

// ---- GroupNorm from per-channel statistics ---------------------------------------------
// Each block sums a chunk of rows of one sample, kVec channels (16 bytes) per thread, around a per-channel
// shift (the sample's first row), so sum/sum-of-squares do not cancel; partial sums per (chunk, n, c) are
// merged in a fixed order (deterministic) and folded into per-group statistics by the Chan merge.
constexpr int kChannelStatThreads = 256;

template <typename T, int kVec>
__global__ void __launch_bounds__(kChannelStatThreads)
    channel_stats_kernel(float2* partial, const T* x, std::int64_t len, int channels, std::int64_t rows_per_chunk) {
  const int vecs = channels / kVec;
  const int rows_in_parallel = kChannelStatThreads / vecs;
  const int v = threadIdx.x % vecs, ry = threadIdx.x / vecs;
  const std::int64_t n = blockIdx.y;
  const std::int64_t r0 = static_cast<std::int64_t>(blockIdx.x) * rows_per_chunk;
  const std::int64_t r1 = r0 + rows_per_chunk < len ? r0 + rows_per_chunk : len;
  const T* sample = x + n * len * channels;
  float shift[kVec], s[kVec], q[kVec];
  alignas(16) T buf[kVec];
  *reinterpret_cast<uint4*>(buf) = *reinterpret_cast<const uint4*>(sample + v * kVec);
#pragma unroll
  for (int i = 0; i < kVec; ++i) shift[i] = to_float(buf[i]), s[i] = 0.0f, q[i] = 0.0f;
  if (ry < rows_in_parallel) {
    for (std::int64_t r = r0 + ry; r < r1; r += rows_in_parallel) {
      *reinterpret_cast<uint4*>(buf) = *reinterpret_cast<const uint4*>(sample + r * channels + v * kVec);
#pragma unroll
      for (int i = 0; i < kVec; ++i) {
        const float d = to_float(buf[i]) - shift[i];
        s[i] += d;
        q[i] += d * d;
      }
    }
  }
  // Rows handled in parallel by one block are summed through shared memory, row slot by row slot.
  extern __shared__ float2 acc[];  // [rows_in_parallel][channels]
  if (ry < rows_in_parallel)
#pragma unroll
    for (int i = 0; i < kVec; ++i) acc[ry * channels + v * kVec + i] = make_float2(s[i], q[i]);
  __syncthreads();
  for (int c = threadIdx.x; c < channels; c += blockDim.x) {
    float2 total = make_float2(0.0f, 0.0f);
    for (int k = 0; k < rows_in_parallel; ++k) total.x += acc[k * channels + c].x, total.y += acc[k * channels + c].y;
    partial[(static_cast<std::int64_t>(blockIdx.x) * gridDim.y + n) * channels + c] = total;
  }
}

// One thread per (n, c): the chunks' partial sums in a fixed order (four independent accumulators keep loads
// in flight): {shift_c, mean_c - shift_c, centred sum of squares over the sample's rows}.
__global__ void channel_totals_kernel(float4* totals, const float2* partial, const void* x, DType dtype,
                                      std::int64_t len, std::int64_t n_count, int channels, int chunks) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_count * channels) return;
  const std::int64_t n = i / channels;
  const int c = static_cast<int>(i % channels);
  float s[4] = {0, 0, 0, 0}, q[4] = {0, 0, 0, 0};
  int k = 0;
  for (; k + 4 <= chunks; k += 4)
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const float2 p = partial[((k + u) * n_count + n) * channels + c];
      s[u] += p.x, q[u] += p.y;
    }
  for (; k < chunks; ++k) {
    const float2 p = partial[(k * n_count + n) * channels + c];
    s[0] += p.x, q[0] += p.y;
  }
  const float sum = (s[0] + s[1]) + (s[2] + s[3]), sq = (q[0] + q[1]) + (q[2] + q[3]);
  const float count = static_cast<float>(len);
  totals[i] = make_float4(load_any(x, dtype, n * len * channels + c), sum / count, fmaxf(sq - sum * sum / count, 0.0f),
                          0.0f);
}

// One thread per (n, group): the Chan merge of its channels around the group's first shift (means are never
// formed at full magnitude, so a large common offset does not eat their precision), then per channel
// {shift_g, mean - shift_g, rstd * weight, bias}.
__global__ void channel_group_params_kernel(float4* params, const float4* totals, std::int64_t len,
                                            std::int64_t n_count, int channels, int groups, float eps, Affine affine) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_count * groups) return;
  const std::int64_t n = i / groups;
  const int g = static_cast<int>(i % groups), cg = channels / groups;
  const float4* t = totals + n * channels + static_cast<std::int64_t>(g) * cg;
  const float shift = t[0].x;
  float offset = 0.0f;
  for (int j = 0; j < cg; ++j) offset += (t[j].x - shift) + t[j].y;
  offset /= static_cast<float>(cg);
  float m2 = 0.0f;
  for (int j = 0; j < cg; ++j) {
    const float d = (t[j].x - shift) + t[j].y - offset;
    m2 += t[j].z + static_cast<float>(len) * d * d;
  }
  const float rstd = rsqrtf(m2 / (static_cast<float>(len) * static_cast<float>(cg)) + eps);
  for (int j = 0; j < cg; ++j) {
    const int c = g * cg + j;
    const float w = affine.weight != nullptr ? load_any(affine.weight, affine.weight_dtype, c) : 1.0f;
    const float b = affine.bias != nullptr ? load_any(affine.bias, affine.bias_dtype, c) : 0.0f;
    params[n * channels + c] = make_float4(shift, offset, rstd * w, b);
  }
}

// Block (chunk, n): thread (row slot, v) normalises channels [v * kVec, v * kVec + kVec) of rows slot,
// slot + slots, ... of the sample, so its channels never change: their {shift, mean - shift, scale, bias}
// stay in registers (a per-element parameter lookup in shared memory was bank-conflict bound).
template <typename T, int kVec>
__global__ void __launch_bounds__(kChannelStatThreads)
    channel_apply_kernel(T* out, const T* x, const float4* params, std::int64_t len, int channels,
                         ops::Activation act) {
  const int vecs = channels / kVec;
  const int slots = kChannelStatThreads / vecs;
  const int v = threadIdx.x % vecs, slot = threadIdx.x / vecs;
  if (slot >= slots) return;
  const std::int64_t n = blockIdx.y;
  float4 a[kVec];
#pragma unroll
  for (int i = 0; i < kVec; ++i) a[i] = params[n * channels + v * kVec + i];
  const T* xs = x + n * len * channels + v * kVec;
  T* ys = out + n * len * channels + v * kVec;
  for (std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * slots + slot; r < len;
       r += static_cast<std::int64_t>(gridDim.x) * slots) {
    alignas(16) T e[kVec];
    *reinterpret_cast<uint4*>(e) = *reinterpret_cast<const uint4*>(xs + r * channels);
#pragma unroll
    for (int i = 0; i < kVec; ++i)
      e[i] = from_float<T>(apply_activation(((to_float(e[i]) - a[i].x) - a[i].y) * a[i].z + a[i].w, act));
    *reinterpret_cast<uint4*>(ys + r * channels) = *reinterpret_cast<const uint4*>(e);
  }
}

// ---- LayerNorm, one warp per row ----------------------------------------------------------
// The row stays in registers (up to kMaxVecsPerLane 16-byte loads per lane: 2048 halves, 1024 floats), so
// it is read once; mean and centred variance from the registers, warp shuffles only.
constexpr int kMaxVecsPerLane = 8;
constexpr int kWarpRowsPerBlock = 8;

template <typename T, int kVec>
__global__ void __launch_bounds__(32 * kWarpRowsPerBlock)
    layer_norm_warp_kernel(T* out, const T* x, std::int64_t rows, int cols, float eps, Affine affine) {
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kWarpRowsPerBlock + threadIdx.x / 32;
  if (row >= rows) return;
  const int lane = threadIdx.x % 32;
  const int vecs = cols / kVec;  // 16-byte loads in the row; lane takes loads lane, lane + 32, ...
  const T* xr = x + row * cols;
  float v[kMaxVecsPerLane][kVec];
  float s = 0.0f;
#pragma unroll
  for (int k = 0; k < kMaxVecsPerLane; ++k) {
    const int j = k * 32 + lane;
    if (j >= vecs) break;
    alignas(16) T buf[kVec];
    *reinterpret_cast<uint4*>(buf) = *reinterpret_cast<const uint4*>(xr + j * kVec);
#pragma unroll
    for (int i = 0; i < kVec; ++i) v[k][i] = to_float(buf[i]), s += v[k][i];
  }
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  const float mean = s / static_cast<float>(cols);
  float q = 0.0f;
#pragma unroll
  for (int k = 0; k < kMaxVecsPerLane; ++k) {
    if (k * 32 + lane >= vecs) break;
#pragma unroll
    for (int i = 0; i < kVec; ++i) {
      const float d = v[k][i] - mean;
      q += d * d;
    }
  }
  for (int o = 16; o > 0; o >>= 1) q += __shfl_xor_sync(0xffffffffu, q, o);
  const float rstd = rsqrtf(q / static_cast<float>(cols) + eps);
  T* yr = out + row * cols;
#pragma unroll
  for (int k = 0; k < kMaxVecsPerLane; ++k) {
    const int j = k * 32 + lane;
    if (j >= vecs) break;
    alignas(16) T buf[kVec];
#pragma unroll
    for (int i = 0; i < kVec; ++i) {
      const int c = j * kVec + i;
      float y = (v[k][i] - mean) * rstd;
      if (affine.weight != nullptr) y *= load_any(affine.weight, affine.weight_dtype, c);
      if (affine.bias != nullptr) y += load_any(affine.bias, affine.bias_dtype, c);
      buf[i] = from_float<T>(y);
    }
    *reinterpret_cast<uint4*>(yr + j * kVec) = *reinterpret_cast<const uint4*>(buf);
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
  constexpr int kMinRowsPerThread = 4;
  bool launched = false;
  dispatch_float(x.dtype(), "group_norm", [&]<typename T>() {
    constexpr int kVec = static_cast<int>(16 / sizeof(T));
    const bool fits = channels % kVec == 0 && channels / kVec <= kChannelStatThreads &&
                      x.size(0) <= 65535 && (reinterpret_cast<std::uintptr_t>(x.data_ptr()) & 15u) == 0 &&
                      (reinterpret_cast<std::uintptr_t>(out.data_ptr()) & 15u) == 0;
    // Small tensors (the 1-D heads' [1, 16, C]) take the one-launch kernel: four launches would cost more.
    constexpr std::int64_t kMinElementsForSplit = 65536;
    if (!fits || context().general_kernels_only_ || x.numel() < kMinElementsForSplit) return;
    const std::int64_t n_count = x.size(0);
    const int rows_in_parallel = kChannelStatThreads / (channels / kVec);
    // A few blocks per SM in all, each summing at least kMinRowsPerThread rows per thread.
    const std::int64_t want = (4 * context().sm_count_ + n_count - 1) / n_count;
    const std::int64_t rows_per_chunk =
        std::max<std::int64_t>((len + want - 1) / want, std::int64_t{kMinRowsPerThread} * rows_in_parallel);
    const std::int64_t chunks = (len + rows_per_chunk - 1) / rows_per_chunk;
    const Tensor partial = Tensor::empty({chunks * n_count * channels * 2}, DType::F32, Device::CUDA);
    const Tensor totals = Tensor::empty({n_count * channels * 4}, DType::F32, Device::CUDA);
    const Tensor params = Tensor::empty({n_count * channels * 4}, DType::F32, Device::CUDA);
    auto* partial2 = reinterpret_cast<float2*>(partial.data<float>());
    auto* totals4 = reinterpret_cast<float4*>(totals.data<float>());
    auto* params4 = reinterpret_cast<float4*>(params.data<float>());
    const std::size_t stat_smem = sizeof(float2) * static_cast<std::size_t>(rows_in_parallel) * channels;
    channel_stats_kernel<T, kVec>
        <<<dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(n_count)), kChannelStatThreads, stat_smem,
           stream()>>>(partial2, x.data<T>(), len, channels, rows_per_chunk);
    WMA_CUDA_CHECK_LAUNCH();
    const std::int64_t pairs = n_count * channels;
    channel_totals_kernel<<<static_cast<unsigned>((pairs + kThreads - 1) / kThreads), kThreads, 0, stream()>>>(
        totals4, partial2, x.data_ptr(), x.dtype(), len, n_count, channels, static_cast<int>(chunks));
    WMA_CUDA_CHECK_LAUNCH();
    const std::int64_t group_pairs = n_count * groups;
    channel_group_params_kernel<<<static_cast<unsigned>((group_pairs + 63) / 64), 64, 0, stream()>>>(
        params4, totals4, len, n_count, channels, groups, eps, affine);
    WMA_CUDA_CHECK_LAUNCH();
    const std::int64_t apply_blocks = std::max<std::int64_t>(1, std::min<std::int64_t>(want, (len + rows_in_parallel - 1) / rows_in_parallel));
    channel_apply_kernel<T, kVec>
        <<<dim3(static_cast<unsigned>(apply_blocks), static_cast<unsigned>(n_count)), kChannelStatThreads, 0,
           stream()>>>(out.data<T>(), x.data<T>(), params4, len, channels, act);
    WMA_CUDA_CHECK_LAUNCH();
    launched = true;
  });
  if (launched) return;
  dispatch_float(x.dtype(), "group_norm", [&]<typename T>() {
    group_norm_kernel<T><<<static_cast<unsigned>(blocks), kNormThreads, 0, stream()>>>(
        out.data<T>(), x.data<T>(), len, channels, groups, eps, affine, act);
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
    constexpr int kVec = static_cast<int>(16 / sizeof(T));
    const bool fits = cols % kVec == 0 && cols / kVec <= 32 * kMaxVecsPerLane &&
                      (reinterpret_cast<std::uintptr_t>(x.data_ptr()) & 15u) == 0 &&
                      (reinterpret_cast<std::uintptr_t>(out.data_ptr()) & 15u) == 0;
    if (fits && !context().general_kernels_only_) {
      const auto blocks = static_cast<unsigned>((rows + kWarpRowsPerBlock - 1) / kWarpRowsPerBlock);
      layer_norm_warp_kernel<T, kVec><<<blocks, 32 * kWarpRowsPerBlock, 0, stream()>>>(
          out.data<T>(), x.data<T>(), rows, static_cast<int>(cols), eps, affine);
      WMA_CUDA_CHECK_LAUNCH();
      return;
    }
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
