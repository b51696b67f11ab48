// GroupNorm (+activation, +FiLM), LayerNorm and softmax, statistics in fp32. A GroupNorm whose group fits in
// one block's registers is read once and written once by that block; larger ones read the tensor once for
// their statistics (per-channel shifted sums over chunks of rows, merged into groups exactly by Chan et al.'s
// formula, finalised by the last block of each sample) and once more to normalise; LayerNorm keeps a row in
// one warp's registers (two-pass mean/variance, one read). The general kernels (one block per group or row,
// two passes over memory) remain for other shapes and for comparison. Norm affine parameters may be any
// float dtype.
#include <algorithm>
#include <unordered_map>

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
__device__ __forceinline__ float bias_at(const T* x_bias, std::int64_t i) {
  return x_bias != nullptr ? to_float(x_bias[i]) : 0.0f;
}

template <typename T, ops::Activation kAct>
__global__ void __launch_bounds__(kNormThreads)
    group_norm_kernel(T* out, const T* x, const T* x_bias, std::int64_t samples_per_bias_row, const T* film,
                      std::int64_t len, int channels, int groups, float eps, Affine affine) {
  __shared__ float scratch[32];
  const int g = blockIdx.x % groups;
  const std::int64_t n = blockIdx.x / groups;
  const int cg = channels / groups;
  const std::int64_t count = len * cg;
  const std::int64_t base = n * len * channels + static_cast<std::int64_t>(g) * cg;
  auto at = [&](std::int64_t e) { return base + (e / cg) * channels + e % cg; };
  auto value = [&](std::int64_t e) {
    return to_float(x[at(e)]) +
           bias_at(x_bias, n / samples_per_bias_row * channels + g * cg + static_cast<int>(e % cg));
  };

  float s = 0.0f;
  for (std::int64_t e = threadIdx.x; e < count; e += blockDim.x) s += value(e);
  const float mean = block_sum(s, scratch) / static_cast<float>(count);
  float q = 0.0f;
  for (std::int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    const float d = value(e) - mean;
    q += d * d;
  }
  const float rstd = rsqrtf(block_sum(q, scratch) / static_cast<float>(count) + eps);
  for (std::int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    const int c = g * cg + static_cast<int>(e % cg);
    float y = (value(e) - mean) * rstd;
    if (affine.weight != nullptr) y *= load_any(affine.weight, affine.weight_dtype, c);
    if (affine.bias != nullptr) y += load_any(affine.bias, affine.bias_dtype, c);
    y = activate<kAct>(y);
    if (film != nullptr) y = y * to_float(film[(2 * n) * channels + c]) + to_float(film[(2 * n + 1) * channels + c]);
    out[at(e)] = from_float<T>(y);
  }
}

// The activations ops::group_norm admits, each a kernel specialisation.
template <typename Fn>
void dispatch_norm_activation(ops::Activation act, Fn&& fn) {
  switch (act) {
    case ops::Activation::None: fn.template operator()<ops::Activation::None>(); return;
    case ops::Activation::SiLU: fn.template operator()<ops::Activation::SiLU>(); return;
    case ops::Activation::Mish: fn.template operator()<ops::Activation::Mish>(); return;
    default: WMA_CHECK(false, "[group_norm] unsupported activation ", static_cast<int>(act));
  }
}

// kVec elements of one row as loaded: 16 or 8 bytes are one vector load (4 or 2 registers), converted where they
// are used (held as floats, 8 of them took 64 registers and half the block's occupancy).
template <typename T, int kVec>
struct Unit {
  static constexpr int kBytes = kVec * static_cast<int>(sizeof(T));
  alignas(kBytes == 16 || kBytes == 8 ? kBytes : alignof(T)) T e[kVec];
  __device__ __forceinline__ void load(const T* p) {
    if constexpr (kBytes == 16) {
      *reinterpret_cast<uint4*>(e) = *reinterpret_cast<const uint4*>(p);
    } else if constexpr (kBytes == 8) {
      *reinterpret_cast<uint2*>(e) = *reinterpret_cast<const uint2*>(p);
    } else {
#pragma unroll
      for (int i = 0; i < kVec; ++i) e[i] = p[i];
    }
  }
  __device__ __forceinline__ void store(T* p) const {
    if constexpr (kBytes == 16) {
      *reinterpret_cast<uint4*>(p) = *reinterpret_cast<const uint4*>(e);
    } else if constexpr (kBytes == 8) {
      *reinterpret_cast<uint2*>(p) = *reinterpret_cast<const uint2*>(e);
    } else {
#pragma unroll
      for (int i = 0; i < kVec; ++i) p[i] = e[i];
    }
  }
};

// ---- GroupNorm of a small group: one block per (sample, group), the group held in registers ----
// One read and one write; the 1-D heads' and the UNet's deep levels' groups (at most kResidentUnits x
// kResidentThreads loads of 16 or 8 bytes, or of one element) have no use for the split path's second launch and
// merges, whose fixed cost (~20 us on an H200) was several times their traffic. Blocks of 256 threads where that
// holds the group, 512 above: the larger block runs fewer blocks per SM, which cost the heads' small groups. The
// group's per-channel terms (x_bias, affine, FiLM) are staged in shared memory first: read per element from global
// memory, through the dtype switch, they took longer than the group's own data.
constexpr int kResidentThreads = 512;
constexpr int kResidentUnits = 8;
constexpr int kMaxResidentGroupChannels = 512;

template <typename T, int kVec, int kThreads, ops::Activation kAct>
__global__ void __launch_bounds__(kThreads)
    group_norm_resident_kernel(T* out, const T* x, const T* x_bias, std::int64_t samples_per_bias_row, const T* film,
                               int len, int channels, int groups, float eps, Affine affine) {
  __shared__ float scratch[32];
  // Per channel of the group: x_bias, weight, bias, FiLM scale, FiLM shift.
  __shared__ float terms[5][kMaxResidentGroupChannels];
  const int g = blockIdx.x % groups;
  const std::int64_t n = blockIdx.x / groups;
  const int cg = channels / groups, units_per_row = cg / kVec, units = len * units_per_row;
  const std::int64_t base = n * len * channels + static_cast<std::int64_t>(g) * cg;
  for (int j = threadIdx.x; j < cg; j += kThreads) {
    const int c = g * cg + j;
    terms[0][j] = bias_at(x_bias, n / samples_per_bias_row * channels + c);
    terms[1][j] = affine.weight != nullptr ? load_any(affine.weight, affine.weight_dtype, c) : 1.0f;
    terms[2][j] = affine.bias != nullptr ? load_any(affine.bias, affine.bias_dtype, c) : 0.0f;
    terms[3][j] = film != nullptr ? to_float(film[(2 * n) * channels + c]) : 1.0f;
    terms[4][j] = film != nullptr ? to_float(film[(2 * n + 1) * channels + c]) : 0.0f;
  }
  __syncthreads();
  auto value = [&](const Unit<T, kVec>& unit, int j, int i) { return to_float(unit.e[i]) + terms[0][j + i]; };
  Unit<T, kVec> v[kResidentUnits];
  auto column = [&](int u) { return (u % units_per_row) * kVec; };
  float s = 0.0f;
#pragma unroll
  for (int k = 0; k < kResidentUnits; ++k) {
    const int u = threadIdx.x + k * kThreads;
    if (u >= units) continue;
    const int row = u / units_per_row, j = column(u);
    v[k].load(x + base + static_cast<std::int64_t>(row) * channels + j);
#pragma unroll
    for (int i = 0; i < kVec; ++i) s += value(v[k], j, i);
  }
  const float count = static_cast<float>(units) * kVec;
  const float mean = block_sum(s, scratch) / count;
  float q = 0.0f;
#pragma unroll
  for (int k = 0; k < kResidentUnits; ++k) {
    const int u = threadIdx.x + k * kThreads;
    if (u >= units) continue;
    const int j = column(u);
#pragma unroll
    for (int i = 0; i < kVec; ++i) q += (value(v[k], j, i) - mean) * (value(v[k], j, i) - mean);
  }
  const float rstd = rsqrtf(block_sum(q, scratch) / count + eps);
#pragma unroll
  for (int k = 0; k < kResidentUnits; ++k) {
    const int u = threadIdx.x + k * kThreads;
    if (u >= units) continue;
    const int row = u / units_per_row, j = column(u);
    Unit<T, kVec> y;
#pragma unroll
    for (int i = 0; i < kVec; ++i)
      y.e[i] = from_float<T>(activate<kAct>((value(v[k], j, i) - mean) * rstd * terms[1][j + i] + terms[2][j + i]) *
                                 terms[3][j + i] +
                             terms[4][j + i]);
    y.store(out + base + static_cast<std::int64_t>(row) * channels + j);
  }
}

// ---- GroupNorm in two launches: one read for the statistics, one read + write to apply them ----
// Statistics: block (chunk, n) sums a chunk of rows of one sample, kVec channels (16 bytes) per thread and
// kStatUnroll rows in flight, around a per-channel shift (the sample's first row) so sums of squares do not
// cancel; it folds its channels into per-group {mean, M2} (Chan et al.), and the sample's last block to finish
// (a counter per sample, reset by that block for the next launch) merges the chunks in a fixed order and writes
// the per-channel parameters. x_bias only moves the means: the shifted differences never see it.
constexpr int kStatThreads = 512;
constexpr int kStatUnroll = 4;
constexpr int kMaxGroupsForSplit = 512;
static_assert(kMaxGroupsForSplit <= kStatThreads, "one thread per group in the final merge");

struct GroupStatArgs {
  std::int64_t len;
  std::int64_t rows_per_chunk;
  std::int64_t samples_per_bias_row;
  int channels, groups, chunks;
  float eps;
};

// Merges {count, mean, M2} of b into a (Chan et al.); both means around the same shift.
__device__ __forceinline__ void chan_merge(float& count, float& mean, float& m2, float count_b, float mean_b,
                                           float m2_b) {
  const float total = count + count_b;
  const float delta = mean_b - mean;
  mean += delta * (count_b / total);
  m2 += m2_b + delta * delta * (count * count_b / total);
  count = total;
}

template <typename T, int kVec>
__global__ void __launch_bounds__(kStatThreads)
    group_stats_kernel(float4* params, float2* partial, unsigned* counters, const T* x, const T* x_bias,
                       GroupStatArgs a, Affine affine) {
  extern __shared__ float2 acc[];  // [slots][channels] per-slot sums, then per-channel {mean, M2}; then
                                   // first_biased [channels]: the sample's first row plus x_bias
  __shared__ float2 group_stats[kMaxGroupsForSplit];
  __shared__ bool last_block;
  const int vecs = a.channels / kVec, slots = kStatThreads / vecs;
  const int v = threadIdx.x % vecs, slot = threadIdx.x / vecs;
  const int n = blockIdx.y, chunk = blockIdx.x;
  const std::int64_t r0 = chunk * a.rows_per_chunk;
  const std::int64_t r1 = r0 + a.rows_per_chunk < a.len ? r0 + a.rows_per_chunk : a.len;
  const T* sample = x + static_cast<std::int64_t>(n) * a.len * a.channels;
  const std::int64_t bias_row = n / a.samples_per_bias_row * a.channels;
  float* first_biased = reinterpret_cast<float*>(acc + slots * a.channels);

  if (slot < slots) {
    float shift[kVec], s[kVec], q[kVec];
    Unit<T, kVec> first;
    first.load(sample + v * kVec);
#pragma unroll
    for (int i = 0; i < kVec; ++i) shift[i] = to_float(first.e[i]), s[i] = 0.0f, q[i] = 0.0f;
    // Staged once per block: the group merge below reads it per channel (from global memory those reads
    // were dependent round trips, tens of microseconds per launch).
    if (slot == 0)
#pragma unroll
      for (int i = 0; i < kVec; ++i) first_biased[v * kVec + i] = shift[i] + bias_at(x_bias, bias_row + v * kVec + i);
    auto accumulate = [&](const Unit<T, kVec>& row) {
#pragma unroll
      for (int i = 0; i < kVec; ++i) {
        const float d = to_float(row.e[i]) - shift[i];
        s[i] += d;
        q[i] += d * d;
      }
    };
    std::int64_t r = r0 + slot;
    for (; r + (kStatUnroll - 1) * slots < r1; r += kStatUnroll * slots) {
      Unit<T, kVec> rows[kStatUnroll];
#pragma unroll
      for (int u = 0; u < kStatUnroll; ++u) rows[u].load(sample + (r + u * slots) * a.channels + v * kVec);
#pragma unroll
      for (int u = 0; u < kStatUnroll; ++u) accumulate(rows[u]);
    }
    for (; r < r1; r += slots) {
      Unit<T, kVec> row;
      row.load(sample + r * a.channels + v * kVec);
      accumulate(row);
    }
#pragma unroll
    for (int i = 0; i < kVec; ++i) acc[slot * a.channels + v * kVec + i] = make_float2(s[i], q[i]);
  }
  __syncthreads();
  const float rows = static_cast<float>(r1 - r0);
  for (int c = threadIdx.x; c < a.channels; c += kStatThreads) {
    float ts = 0.0f, tq = 0.0f;
    for (int k = 0; k < slots; ++k) ts += acc[k * a.channels + c].x, tq += acc[k * a.channels + c].y;
    acc[c] = make_float2(ts / rows, fmaxf(tq - ts * ts / rows, 0.0f));  // only this thread reads column c
  }
  __syncthreads();
  // Channel c's mean is first_c + bias_c + acc[c].x; a group's is taken around its first channel's. One warp per
  // group, lanes over its channels (one thread per group walked them serially, twice).
  const int cg = a.channels / a.groups;
  const std::int64_t param_row = static_cast<std::int64_t>(n) * a.channels;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int g = warp; g < a.groups; g += kStatThreads / 32) {
    const int c0 = g * cg;
    const float shift0 = first_biased[c0];
    auto channel_mean = [&](int j) { return (first_biased[c0 + j] - shift0) + acc[c0 + j].x; };
    float mean = 0.0f;
    for (int j = lane; j < cg; j += 32) mean += channel_mean(j);
    mean = warp_sum(mean) / static_cast<float>(cg);
    float m2 = 0.0f;
    for (int j = lane; j < cg; j += 32) {
      const float d = channel_mean(j) - mean;
      m2 += acc[c0 + j].y + rows * d * d;
    }
    m2 = warp_sum(m2);
    if (lane == 0) partial[(static_cast<std::int64_t>(n) * a.chunks + chunk) * a.groups + g] = make_float2(mean, m2);
  }
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last_block = atomicAdd(&counters[n], 1u) == static_cast<unsigned>(a.chunks - 1);
  // What is left is the last blocks' merges: the apply kernel's blocks may take the SMs meanwhile.
  trigger_dependents();
  __syncthreads();
  if (!last_block) return;
  __threadfence();

  // Each (group, subset) pair merges every subsets-th chunk; subsets then merge in order.
  auto* merged = reinterpret_cast<float*>(acc);  // [subsets][groups][3]
  const int subsets = kStatThreads / a.groups;
  for (int p = threadIdx.x; p < a.groups * subsets; p += kStatThreads) {
    const int g = p % a.groups, sub = p / a.groups;
    float count = 0.0f, mean = 0.0f, m2 = 0.0f;
    // Loads kMergeBatch partials before merging them, so the L2 round trips overlap.
    constexpr int kMergeBatch = 8;
    for (int k = sub; k < a.chunks; k += kMergeBatch * subsets) {
      float2 pk[kMergeBatch];
#pragma unroll
      for (int u = 0; u < kMergeBatch; ++u) {
        const int kk = k + u * subsets;
        pk[u] = kk < a.chunks ? __ldcg(&partial[(static_cast<std::int64_t>(n) * a.chunks + kk) * a.groups + g])
                              : make_float2(0.0f, 0.0f);
      }
#pragma unroll
      for (int u = 0; u < kMergeBatch; ++u) {
        const int kk = k + u * subsets;
        if (kk >= a.chunks) break;
        const std::int64_t k1 = (kk + 1) * a.rows_per_chunk < a.len ? (kk + 1) * a.rows_per_chunk : a.len;
        chan_merge(count, mean, m2, static_cast<float>((k1 - kk * a.rows_per_chunk) * cg), pk[u].x, pk[u].y);
      }
    }
    merged[3 * p] = count, merged[3 * p + 1] = mean, merged[3 * p + 2] = m2;
  }
  __syncthreads();
  for (int g = threadIdx.x; g < a.groups; g += kStatThreads) {
    float count = merged[3 * g], mean = merged[3 * g + 1], m2 = merged[3 * g + 2];
    for (int sub = 1; sub < subsets; ++sub) {
      const int p = sub * a.groups + g;
      if (merged[3 * p] > 0.0f) chan_merge(count, mean, m2, merged[3 * p], merged[3 * p + 1], merged[3 * p + 2]);
    }
    group_stats[g] = make_float2(mean, rsqrtf(m2 / count + a.eps));
  }
  __syncthreads();
  for (int c = threadIdx.x; c < a.channels; c += kStatThreads) {
    const int g = c / cg, c0 = g * cg;
    const float w = affine.weight != nullptr ? load_any(affine.weight, affine.weight_dtype, c) : 1.0f;
    const float b = affine.bias != nullptr ? load_any(affine.bias, affine.bias_dtype, c) : 0.0f;
    // y = ((x + offset_c) - mean_g) * scale_c + b_c, where offset_c = bias_c - (first_c0 + bias_c0) brings x
    // next to the group's shift before the mean is taken off.
    const float offset = bias_at(x_bias, bias_row + c) - first_biased[c0];
    params[param_row + c] = make_float4(offset, group_stats[g].x, group_stats[g].y * w, b);
  }
  if (threadIdx.x == 0) counters[n] = 0u;
}

// Block (chunk, n): thread (row slot, v) normalises channels [v * kVec, v * kVec + kVec) of rows slot,
// slot + slots, ... of the sample, so its channels never change and their parameters stay in registers. The block
// is a whole number of rows wide (at most kApplyThreads threads): a fixed 256 left 96 threads idle at C = 1280,
// and 512-thread blocks (80 registers) fit once per SM.
constexpr int kApplyThreads = 256;
constexpr int kApplyUnroll = 4;

template <typename T, int kVec, bool kFilm, ops::Activation kAct>
__global__ void __launch_bounds__(kApplyThreads)
    group_apply_kernel(T* out, const T* x, const float4* params, const T* film, std::int64_t len, int channels) {
  const int vecs = channels / kVec;
  const int slots = static_cast<int>(blockDim.x) / vecs;
  const int v = threadIdx.x % vecs, slot = threadIdx.x / vecs;
  const std::int64_t n = blockIdx.y;
  wait_for_previous_grid();  // the statistics kernel's parameters
  float4 p[kVec];
  [[maybe_unused]] float film_scale[kFilm ? kVec : 1], film_shift[kFilm ? kVec : 1];
#pragma unroll
  for (int i = 0; i < kVec; ++i) {
    p[i] = params[n * channels + v * kVec + i];
    if constexpr (kFilm) {
      film_scale[i] = to_float(film[2 * n * channels + v * kVec + i]);
      film_shift[i] = to_float(film[(2 * n + 1) * channels + v * kVec + i]);
    }
  }
  const T* xs = x + n * len * channels + v * kVec;
  T* ys = out + n * len * channels + v * kVec;
  auto normalise = [&](Unit<T, kVec>& row) {
#pragma unroll
    for (int i = 0; i < kVec; ++i) {
      float y = activate<kAct>(((to_float(row.e[i]) + p[i].x) - p[i].y) * p[i].z + p[i].w);
      if constexpr (kFilm) y = y * film_scale[i] + film_shift[i];
      row.e[i] = from_float<T>(y);
    }
  };
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * slots;
  std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * slots + slot;
  for (; r + (kApplyUnroll - 1) * step < len; r += kApplyUnroll * step) {
    Unit<T, kVec> rows[kApplyUnroll];
#pragma unroll
    for (int u = 0; u < kApplyUnroll; ++u) rows[u].load(xs + (r + u * step) * channels);
#pragma unroll
    for (int u = 0; u < kApplyUnroll; ++u) normalise(rows[u]), rows[u].store(ys + (r + u * step) * channels);
  }
  for (; r < len; r += step) {
    Unit<T, kVec> row;
    row.load(xs + r * channels);
    normalise(row);
    row.store(ys + r * channels);
  }
}

// ---- LayerNorm, a group of lanes per row ----------------------------------------------------
// The row stays in registers (up to kMaxVecsPerLane 16-byte loads per lane), so it is read once; mean and centred
// variance from the registers, shuffles only. kLanes lanes share a row, as few as hold it: the UNet's rows of 320,
// 640 and 1280 halves are 40, 80 and 160 loads, 5 per lane on 8, 16 or 32 lanes, where a whole warp per row left
// 3/4 of the lanes with one load and the rest with two (1.35 TB/s at L0).
constexpr int kMaxVecsPerLane = 8;
constexpr int kWarpsPerNormBlock = 8;

// kAffineVec: weight and bias are both present in x's dtype, so they load as 16-byte vectors too (a scalar
// load through the dtype switch per element cost more than the row's own traffic).
template <typename T, int kVec, int kLanes, bool kAffineVec>
__global__ void __launch_bounds__(32 * kWarpsPerNormBlock)
    layer_norm_lanes_kernel(T* out, const T* x, std::int64_t rows, int cols, float eps, Affine affine) {
  static_assert(kLanes == 8 || kLanes == 16 || kLanes == 32, "row groups stay inside one warp");
  constexpr int kRowsPerWarp = 32 / kLanes;
  const int lane = threadIdx.x % 32, sub = lane % kLanes;
  const std::int64_t row =
      (static_cast<std::int64_t>(blockIdx.x) * kWarpsPerNormBlock + threadIdx.x / 32) * kRowsPerWarp + lane / kLanes;
  // Lanes past the last row still join the shuffles, so the whole warp stays converged.
  const bool valid = row < rows;
  const int vecs = valid ? cols / kVec : 0;  // 16-byte loads in the row; lane takes loads sub, sub + kLanes, ...
  const T* xr = x + row * cols;
  // The row is kept as loaded (16 bytes per load, 4 registers) and converted where it is used: as floats it took
  // 64 registers for 8 loads and left room for a quarter of the warps.
  Unit<T, kVec> v[kMaxVecsPerLane];
  float s = 0.0f;
#pragma unroll
  for (int k = 0; k < kMaxVecsPerLane; ++k) {
    const int j = k * kLanes + sub;
    if (j >= vecs) break;
    v[k].load(xr + j * kVec);
#pragma unroll
    for (int i = 0; i < kVec; ++i) s += to_float(v[k].e[i]);
  }
  for (int o = kLanes / 2; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  const float mean = s / static_cast<float>(cols);
  float q = 0.0f;
#pragma unroll
  for (int k = 0; k < kMaxVecsPerLane; ++k) {
    if (k * kLanes + sub >= vecs) break;
#pragma unroll
    for (int i = 0; i < kVec; ++i) {
      const float d = to_float(v[k].e[i]) - mean;
      q += d * d;
    }
  }
  for (int o = kLanes / 2; o > 0; o >>= 1) q += __shfl_xor_sync(0xffffffffu, q, o);
  const float rstd = rsqrtf(q / static_cast<float>(cols) + eps);
  T* yr = out + row * cols;
#pragma unroll
  for (int k = 0; k < kMaxVecsPerLane; ++k) {
    const int j = k * kLanes + sub;
    if (j >= vecs) break;
    Unit<T, kVec> y;
    if constexpr (kAffineVec) {
      Unit<T, kVec> w, b;
      w.load(static_cast<const T*>(affine.weight) + j * kVec);
      b.load(static_cast<const T*>(affine.bias) + j * kVec);
#pragma unroll
      for (int i = 0; i < kVec; ++i)
        y.e[i] = from_float<T>((to_float(v[k].e[i]) - mean) * rstd * to_float(w.e[i]) + to_float(b.e[i]));
    } else {
#pragma unroll
      for (int i = 0; i < kVec; ++i) {
        const int c = j * kVec + i;
        float r = (to_float(v[k].e[i]) - mean) * rstd;
        if (affine.weight != nullptr) r *= load_any(affine.weight, affine.weight_dtype, c);
        if (affine.bias != nullptr) r += load_any(affine.bias, affine.bias_dtype, c);
        y.e[i] = from_float<T>(r);
      }
    }
    y.store(yr + j * kVec);
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

// Block (32 maps, n): thread (slot, lane) walks positions slot, slot + kSpatialSlots, ... of map k0 + lane with an
// online softmax {max, sum, position-weighted sums}; the slots merge through shared memory. A warp reads 32
// adjacent channels of one position, so the channels-last logits need no transpose.
constexpr int kSpatialSlots = 8;
constexpr int kMaxPosDims = 4;

template <typename T>
__global__ void __launch_bounds__(32 * kSpatialSlots)
    spatial_softmax_kernel(T* out, const T* logits, const T* pos, int positions, int maps, int dims) {
  __shared__ float state[kSpatialSlots][32][2 + kMaxPosDims];
  const int lane = threadIdx.x & 31, slot = threadIdx.x >> 5;
  const int k = blockIdx.x * 32 + lane;
  const std::int64_t n = blockIdx.y;
  float m = -INFINITY, s = 0.0f, acc[kMaxPosDims] = {};
  if (k < maps) {
    const T* l = logits + n * positions * maps + k;
    for (int i = slot; i < positions; i += kSpatialSlots) {
      const float x = to_float(l[static_cast<std::int64_t>(i) * maps]);
      if (x > m) {
        const float corr = expf(m - x);  // 0 while m is still -inf
        s *= corr;
#pragma unroll
        for (int j = 0; j < kMaxPosDims; ++j) acc[j] *= corr;
        m = x;
      }
      const float e = expf(x - m);
      s += e;
#pragma unroll
      for (int j = 0; j < kMaxPosDims; ++j)
        if (j < dims) acc[j] += e * to_float(pos[i * dims + j]);
    }
  }
  state[slot][lane][0] = m;
  state[slot][lane][1] = s;
#pragma unroll
  for (int j = 0; j < kMaxPosDims; ++j) state[slot][lane][2 + j] = acc[j];
  __syncthreads();
  if (slot != 0 || k >= maps) return;
  float top = -INFINITY;
  for (int r = 0; r < kSpatialSlots; ++r) top = fmaxf(top, state[r][lane][0]);
  float total = 0.0f, sums[kMaxPosDims] = {};
  for (int r = 0; r < kSpatialSlots; ++r) {
    const float w = state[r][lane][0] == -INFINITY ? 0.0f : expf(state[r][lane][0] - top);
    total += state[r][lane][1] * w;
#pragma unroll
    for (int j = 0; j < kMaxPosDims; ++j) sums[j] += state[r][lane][2 + j] * w;
  }
  for (int j = 0; j < dims; ++j) out[(n * maps + k) * dims + j] = from_float<T>(sums[j] / total);
}

// Split over positions, for 2-D keypoints with a map count the threads can cover in 16-byte loads: block (chunk,
// n) takes a chunk of positions of sample n, thread (slot, v) maps v * kVec.. of every slots-th position, with
// an online softmax per map in the exp2 domain; slots fold in shared memory, chunks in global memory by the
// sample's last block to finish, in a fixed order. The kernel above gives each sample 32 maps per block and walks
// every position in one thread, so the UNet's 16 frames made 16-160 blocks of long serial loops (36 us a call).
struct SoftmaxState {
  float m, s, x, y;  // running maximum (exp2 domain), sum of exp2, and the two exp2-weighted coordinates
};

__device__ __forceinline__ void softmax_fold(SoftmaxState& a, const SoftmaxState& b) {
  if (b.m == -INFINITY) return;
  if (a.m == -INFINITY) {
    a = b;
    return;
  }
  const float m = fmaxf(a.m, b.m), ca = exp2f(a.m - m), cb = exp2f(b.m - m);
  a = {m, a.s * ca + b.s * cb, a.x * ca + b.x * cb, a.y * ca + b.y * cb};
}

constexpr int kSoftmaxThreads = 256;
constexpr int kSoftmaxMergeBatch = 8;
constexpr std::int64_t kSoftmaxSplitPositions = 512;

template <typename T, int kVec>
__global__ void __launch_bounds__(kSoftmaxThreads)
    spatial_softmax_split_kernel(T* out, SoftmaxState* partial, unsigned* counters, const T* logits, const T* pos,
                                 int positions, int maps, int positions_per_chunk) {
  extern __shared__ SoftmaxState folded[];  // [slots][maps]
  __shared__ bool last_block;
  const int vecs = maps / kVec, slots = kSoftmaxThreads / vecs;
  const int v = threadIdx.x % vecs, slot = threadIdx.x / vecs;
  const int chunk = blockIdx.x, chunks = gridDim.x;
  const std::int64_t n = blockIdx.y;
  const int p0 = chunk * positions_per_chunk, p1 = min(p0 + positions_per_chunk, positions);
  if (slot < slots) {
    SoftmaxState st[kVec];
#pragma unroll
    for (int i = 0; i < kVec; ++i) st[i] = {-INFINITY, 0.0f, 0.0f, 0.0f};
    const T* sample = logits + n * positions * maps + v * kVec;
    for (int p = p0 + slot; p < p1; p += slots) {
      Unit<T, kVec> row;
      row.load(sample + static_cast<std::int64_t>(p) * maps);
      const float px = to_float(pos[2 * p]), py = to_float(pos[2 * p + 1]);
#pragma unroll
      for (int i = 0; i < kVec; ++i) {
        const float x = to_float(row.e[i]) * 1.4426950408889634f;
        const float m = fmaxf(st[i].m, x);
        const float c = exp2f(st[i].m - m), e = exp2f(x - m);  // c is 0 while st.m is -inf
        st[i] = {m, st[i].s * c + e, st[i].x * c + e * px, st[i].y * c + e * py};
      }
    }
#pragma unroll
    for (int i = 0; i < kVec; ++i) folded[slot * maps + v * kVec + i] = st[i];
  }
  __syncthreads();
  for (int c = threadIdx.x; c < maps; c += kSoftmaxThreads) {
    SoftmaxState st = folded[c];
    for (int k = 1; k < slots; ++k) softmax_fold(st, folded[k * maps + c]);
    partial[(n * chunks + chunk) * maps + c] = st;
  }
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last_block = atomicAdd(&counters[n], 1u) == static_cast<unsigned>(chunks - 1);
  __syncthreads();
  if (!last_block) return;
  __threadfence();
  for (int c = threadIdx.x; c < maps; c += kSoftmaxThreads) {
    SoftmaxState st{-INFINITY, 0.0f, 0.0f, 0.0f};
    for (int k = 0; k < chunks; k += kSoftmaxMergeBatch) {
      SoftmaxState batch[kSoftmaxMergeBatch];
#pragma unroll
      for (int u = 0; u < kSoftmaxMergeBatch; ++u) {
        if (k + u >= chunks) break;
        const float4 raw = __ldcg(reinterpret_cast<const float4*>(&partial[(n * chunks + k + u) * maps + c]));
        batch[u] = {raw.x, raw.y, raw.z, raw.w};
      }
#pragma unroll
      for (int u = 0; u < kSoftmaxMergeBatch; ++u) {
        if (k + u >= chunks) break;
        softmax_fold(st, batch[u]);
      }
    }
    out[(n * maps + c) * 2] = from_float<T>(st.x / st.s);
    out[(n * maps + c) * 2 + 1] = from_float<T>(st.y / st.s);
  }
  if (threadIdx.x == 0) counters[n] = 0u;
}

int row_threads(std::int64_t cols) {
  std::int64_t t = 32;
  while (t < cols && t < 1024) t <<= 1;
  return static_cast<int>(t);
}

Affine make_affine(const Tensor* weight, const Tensor* bias, std::int64_t channels, const char* op) {
  for (const Tensor* p : {weight, bias}) {
    if (p == nullptr) continue;
    WMA_CHECK(p->device() == Device::CUDA && dtype_is_float(p->dtype()) && p->is_contiguous() && p->numel() == channels,
              "[", op, "] affine parameter ", p->describe(), " must be a contiguous float CUDA tensor of ", channels,
              " elements");
  }
  return Affine{weight ? weight->data_ptr() : nullptr, bias ? bias->data_ptr() : nullptr,
                weight ? weight->dtype() : DType::F32, bias ? bias->dtype() : DType::F32};
}

}  // namespace

void group_norm(const Tensor& out, const Tensor& x, int groups, const Tensor* weight, const Tensor* bias, float eps,
                ops::Activation act, const Tensor* x_bias, const Tensor* film) {
  check_float_same("group_norm", {&out, &x});
  check_contiguous("group_norm", {&out, &x});
  WMA_CHECK(x.dim() == 3 && out.shape() == x.shape() && groups > 0 && x.size(2) % groups == 0, "[group_norm] x ",
            x.describe(), ", out ", out.describe(), ", groups ", groups);
  if (x_bias != nullptr) {
    check_float_same("group_norm", {&x, x_bias});
    check_contiguous("group_norm", {x_bias});
    WMA_CHECK(x_bias->dim() == 2 && x_bias->size(1) == x.size(2) && x_bias->size(0) >= 1 &&
                  x.size(0) % x_bias->size(0) == 0,
              "[group_norm] x_bias ", x_bias->describe(), " for x ", x.describe());
  }
  if (film != nullptr) {
    check_float_same("group_norm", {&x, film});
    check_contiguous("group_norm", {film});
    WMA_CHECK(film->shape() == (Shape{x.size(0), 2, x.size(2)}), "[group_norm] film ", film->describe(), " for x ",
              x.describe());
  }
  const std::int64_t blocks = x.size(0) * groups;
  const Affine affine = make_affine(weight, bias, x.size(2), "group_norm");
  if (x.numel() == 0) return;
  WMA_CHECK(blocks <= INT32_MAX, "[group_norm] too many (sample, group) pairs");
  const std::int64_t len = x.size(1), n_count = x.size(0);
  const int channels = static_cast<int>(x.size(2));
  const std::int64_t samples_per_bias_row = x_bias != nullptr ? n_count / x_bias->size(0) : 1;
  bool launched = false;
  dispatch_float(x.dtype(), "group_norm", [&]<typename T>() {
    constexpr int kVec = static_cast<int>(16 / sizeof(T));
    if (context().general_kernels_only_ || len > INT32_MAX) return;
    const int cg = channels / groups;
    // The widest load (16 or 8 bytes) the group's channels and both pointers allow, else one element.
    auto fits_width = [&](int width) {
      const std::uintptr_t mask = static_cast<std::uintptr_t>(width) * sizeof(T) - 1;
      return cg % width == 0 && (reinterpret_cast<std::uintptr_t>(x.data_ptr()) & mask) == 0 &&
             (reinterpret_cast<std::uintptr_t>(out.data_ptr()) & mask) == 0;
    };
    const int width = fits_width(kVec) ? kVec : fits_width(kVec / 2) ? kVec / 2 : 1;
    const std::int64_t units = len * (cg / width);
    if (units > std::int64_t{kResidentUnits} * kResidentThreads || cg > kMaxResidentGroupChannels) return;
    auto launch = [&]<int kUnitVec>() {
      dispatch_norm_activation(act, [&]<ops::Activation kAct>() {
        const T* bias_data = x_bias != nullptr ? x_bias->data<T>() : nullptr;
        const T* film_data = film != nullptr ? film->data<T>() : nullptr;
        const auto grid = static_cast<unsigned>(blocks);
        constexpr int kHalf = kResidentThreads / 2;
        if (units <= std::int64_t{kResidentUnits} * kHalf)
          group_norm_resident_kernel<T, kUnitVec, kHalf, kAct>
              <<<grid, kHalf, 0, stream()>>>(out.data<T>(), x.data<T>(), bias_data, samples_per_bias_row, film_data,
                                             static_cast<int>(len), channels, groups, eps, affine);
        else
          group_norm_resident_kernel<T, kUnitVec, kResidentThreads, kAct>
              <<<grid, kResidentThreads, 0, stream()>>>(out.data<T>(), x.data<T>(), bias_data, samples_per_bias_row,
                                                        film_data, static_cast<int>(len), channels, groups, eps,
                                                        affine);
        WMA_CUDA_CHECK_LAUNCH();
      });
    };
    if (width == kVec) launch.template operator()<kVec>();
    else if (width == kVec / 2) launch.template operator()<kVec / 2>();
    else launch.template operator()<1>();
    launched = true;
  });
  if (launched) return;
  dispatch_float(x.dtype(), "group_norm", [&]<typename T>() {
    constexpr int kVec = static_cast<int>(16 / sizeof(T));
    const bool fits = channels % kVec == 0 && channels / kVec <= kApplyThreads && groups <= kMaxGroupsForSplit &&
                      n_count <= kNormCounterSlots && n_count <= kMaxGridY &&
                      (reinterpret_cast<std::uintptr_t>(x.data_ptr()) & 15u) == 0 &&
                      (reinterpret_cast<std::uintptr_t>(out.data_ptr()) & 15u) == 0;
    if (!fits || context().general_kernels_only_) return;
    const int vecs = channels / kVec;
    const int stat_slots = kStatThreads / vecs;
    const std::size_t stat_smem =
        (sizeof(float2) * static_cast<std::size_t>(stat_slots) + sizeof(float)) * static_cast<std::size_t>(channels);
    WMA_CHECK(stat_smem <= kDefaultSharedMemory, "[group_norm] statistics need ", stat_smem, " bytes of shared memory");
    // Every stat block resident at once, each thread summing at least kStatUnroll rows: a second wave of a
    // few blocks (16 samples x 17 chunks on 132 SMs x 2) nearly doubled the pass.
    static thread_local std::unordered_map<std::size_t, int> resident_by_smem;
    auto [it, added] = resident_by_smem.try_emplace(stat_smem, 0);
    if (added)
      WMA_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&it->second, group_stats_kernel<T, kVec>,
                                                                   kStatThreads, stat_smem));
    const int resident_per_sm = it->second;
    const std::int64_t want =
        std::max<std::int64_t>(1, std::int64_t{std::max(resident_per_sm, 1)} * context().sm_count_ / n_count);
    const std::int64_t rows_per_chunk =
        std::max<std::int64_t>((len + want - 1) / want, std::int64_t{kStatUnroll} * stat_slots);
    const std::int64_t chunks = (len + rows_per_chunk - 1) / rows_per_chunk;
    WMA_CHECK(chunks <= kMaxGridX, "[group_norm] too many rows: ", x.describe());
    const Tensor partial = Tensor::empty({n_count * chunks * groups * 2}, DType::F32, Device::CUDA);
    const Tensor params = Tensor::empty({n_count * channels * 4}, DType::F32, Device::CUDA);
    auto* params4 = reinterpret_cast<float4*>(params.data<float>());
    const GroupStatArgs args{len, rows_per_chunk, samples_per_bias_row, channels, groups, static_cast<int>(chunks),
                             eps};
    group_stats_kernel<T, kVec>
        <<<dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(n_count)), kStatThreads, stat_smem, stream()>>>(
            params4, reinterpret_cast<float2*>(partial.data<float>()), context().norm_counters_, x.data<T>(),
            x_bias != nullptr ? x_bias->data<T>() : nullptr, args, affine);
    WMA_CUDA_CHECK_LAUNCH();
    const int apply_slots = kApplyThreads / vecs;
    const std::int64_t apply_want = (4 * context().sm_count_ + n_count - 1) / n_count;
    const std::int64_t apply_blocks =
        std::max<std::int64_t>(1, std::min<std::int64_t>(apply_want, (len + apply_slots * kApplyUnroll - 1) /
                                                                         (apply_slots * kApplyUnroll)));
    const dim3 apply_grid(static_cast<unsigned>(apply_blocks), static_cast<unsigned>(n_count));
    const dim3 apply_block(static_cast<unsigned>(apply_slots * vecs));
    dispatch_norm_activation(act, [&]<ops::Activation kAct>() {
      const T* film_data = film != nullptr ? film->data<T>() : nullptr;
      if (film != nullptr)
        launch_dependent(group_apply_kernel<T, kVec, true, kAct>, apply_grid, apply_block, 0, out.data<T>(),
                         x.data<T>(), static_cast<const float4*>(params4), film_data, len, channels);
      else
        launch_dependent(group_apply_kernel<T, kVec, false, kAct>, apply_grid, apply_block, 0, out.data<T>(),
                         x.data<T>(), static_cast<const float4*>(params4), film_data, len, channels);
    });
    launched = true;
  });
  if (launched) return;
  dispatch_float(x.dtype(), "group_norm", [&]<typename T>() {
    dispatch_norm_activation(act, [&]<ops::Activation kAct>() {
      group_norm_kernel<T, kAct>
          <<<static_cast<unsigned>(blocks), kNormThreads, 0, stream()>>>(out.data<T>(), x.data<T>(),
                                                                         x_bias != nullptr ? x_bias->data<T>()
                                                                                           : nullptr,
                                                                         samples_per_bias_row,
                                                                         film != nullptr ? film->data<T>() : nullptr,
                                                                         len, channels, groups, eps, affine);
      WMA_CUDA_CHECK_LAUNCH();
    });
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
      const auto vector_param = [&](const Tensor* p) {
        return p != nullptr && p->dtype() == x.dtype() && (reinterpret_cast<std::uintptr_t>(p->data_ptr()) & 15u) == 0;
      };
      const bool affine_vec = vector_param(weight) && vector_param(bias);
      const std::int64_t vecs = cols / kVec;
      auto launch = [&]<int kLanes>() {
        const std::int64_t rows_per_block = kWarpsPerNormBlock * (32 / kLanes);
        const auto blocks = static_cast<unsigned>((rows + rows_per_block - 1) / rows_per_block);
        if (affine_vec)
          layer_norm_lanes_kernel<T, kVec, kLanes, true>
              <<<blocks, 32 * kWarpsPerNormBlock, 0, stream()>>>(out.data<T>(), x.data<T>(), rows,
                                                                 static_cast<int>(cols), eps, affine);
        else
          layer_norm_lanes_kernel<T, kVec, kLanes, false>
              <<<blocks, 32 * kWarpsPerNormBlock, 0, stream()>>>(out.data<T>(), x.data<T>(), rows,
                                                                 static_cast<int>(cols), eps, affine);
      };
      if (vecs <= 8 * kMaxVecsPerLane) launch.template operator()<8>();
      else if (vecs <= 16 * kMaxVecsPerLane) launch.template operator()<16>();
      else launch.template operator()<32>();
      WMA_CUDA_CHECK_LAUNCH();
      return;
    }
    layer_norm_kernel<T><<<static_cast<unsigned>(rows), row_threads(cols), 0, stream()>>>(out.data<T>(), x.data<T>(),
                                                                                          static_cast<int>(cols), eps,
                                                                                          affine);
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

void spatial_softmax(const Tensor& out, const Tensor& logits, const Tensor& pos) {
  check_float_same("spatial_softmax", {&out, &logits, &pos});
  check_contiguous("spatial_softmax", {&out, &logits, &pos});
  const std::int64_t n = logits.size(0), positions = logits.size(1), maps = logits.size(2), dims = pos.size(1);
  WMA_CHECK(dims <= kMaxPosDims && positions <= INT32_MAX && maps <= INT32_MAX && n <= kMaxGridY,
            "[spatial_softmax] logits ", logits.describe(), " with pos ", pos.describe(), " exceed the CUDA kernel's ",
            kMaxPosDims, " coordinates or grid");
  if (out.numel() == 0) return;
  bool split = false;
  dispatch_float(out.dtype(), "spatial_softmax", [&]<typename T>() {
    constexpr int kVec = static_cast<int>(16 / sizeof(T));
    // Few positions (the UNet's deep levels) keep the kernel below: its loops are short there, and the split
    // kernel's merge is a fixed cost (L3, 40 positions: 8 -> 20 us).
    const bool fits = dims == 2 && positions >= kSoftmaxSplitPositions && maps % kVec == 0 &&
                      maps / kVec <= kSoftmaxThreads && n <= kNormCounterSlots &&
                      (reinterpret_cast<std::uintptr_t>(logits.data_ptr()) & 15u) == 0;
    if (!fits || context().general_kernels_only_) return;
    const int slots = kSoftmaxThreads / static_cast<int>(maps / kVec);
    // About two waves of blocks over the GPU, each thread walking at least four positions.
    const std::int64_t want = std::max<std::int64_t>(1, 2 * context().sm_count_ / n);
    const std::int64_t per_chunk = std::max<std::int64_t>((positions + want - 1) / want, 4 * slots);
    const std::int64_t chunks = (positions + per_chunk - 1) / per_chunk;
    WMA_CHECK(chunks <= kMaxGridX, "[spatial_softmax] too many positions: ", logits.describe());
    const Tensor partial = Tensor::empty({n * chunks * maps * 4}, DType::F32, Device::CUDA);
    const std::size_t smem = sizeof(SoftmaxState) * static_cast<std::size_t>(slots) * static_cast<std::size_t>(maps);
    WMA_CHECK(smem <= kDefaultSharedMemory, "[spatial_softmax] needs ", smem, " bytes of shared memory");
    spatial_softmax_split_kernel<T, kVec>
        <<<dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(n)), kSoftmaxThreads, smem, stream()>>>(
            out.data<T>(), reinterpret_cast<SoftmaxState*>(partial.data<float>()), context().norm_counters_,
            logits.data<T>(), pos.data<T>(), static_cast<int>(positions), static_cast<int>(maps),
            static_cast<int>(per_chunk));
    WMA_CUDA_CHECK_LAUNCH();
    split = true;
  });
  if (split) return;
  const dim3 grid(static_cast<unsigned>((maps + 31) / 32), static_cast<unsigned>(n));
  dispatch_float(out.dtype(), "spatial_softmax", [&]<typename T>() {
    spatial_softmax_kernel<T><<<grid, 32 * kSpatialSlots, 0, stream()>>>(out.data<T>(), logits.data<T>(), pos.data<T>(),
                                                                         static_cast<int>(positions),
                                                                         static_cast<int>(maps),
                                                                         static_cast<int>(dims));
    WMA_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace wma::cuda
