// Flash attention (FlashAttention-2 layout) for head dim 64 in f16/bf16: a block of 4 warps
// takes 64 queries of one (batch, head), each warp 16 rows; 64-key tiles of K and V stream
// through double-buffered, XOR-swizzled shared memory by cp.async; QK^T and PV run on
// mma.sync m16n8k16 with fp32 accumulators, the softmax is online in fp32 (exp2 domain). Up to
// kMaxBranches key/value sets share one Q (upstream's cross-attention branches): their tiles stream one
// after the other, each branch with its own softmax, and the block writes the sum of their outputs once.
// Work on keys that cannot contribute is skipped, without changing a bit of the result: the 8-key column
// blocks and 16-key PV steps past a branch's last key (the state branch has 2 keys, the image one 16), and the
// trailing keys a query-broadcast mask hides from every row (the action branch's block-causal mask hides up to
// 15/16 of its 256 keys from the early frames); their probabilities would be exactly 0.
#include "backends/cuda/common.cuh"
#include "backends/cuda/flash_attention.h"
#include "backends/cuda/mma.cuh"

namespace wma::cuda {
namespace {

using namespace mma;

constexpr int kHeadDim = 64;
constexpr int kRows = 64;  // queries per block
constexpr int kKeys = 64;  // keys per tile
constexpr int kWarps = 4;
constexpr int kFlashThreads = kWarps * 32;
constexpr float kLog2e = 1.4426950408889634f;

constexpr int kMaxBranches = 4;
static_assert(kRows == kKeys, "Q is loaded by the key-tile loader");
static_assert(kRows == kWarps * 16, "each warp owns one 16-row mma tile of queries");
static_assert(kKeys == 64 && kHeadDim == 64, "the fragments are sized for 64: s and o 8 column blocks of 8, qf and the "
                                             "PV steps 4 k-steps of 16");
static_assert(kMaxBranches <= kFlashThreads, "one thread sets up each branch's key range");
static_assert(sizeof(__half) * (kRows + 4 * kKeys) * kHeadDim + kMaxBranches * (sizeof(std::int64_t) + sizeof(int)) <=
                  kDefaultSharedMemory,
              "the static shared memory (Q, two stages of K and V) needs no opt-in");

// This kernel also takes masks that vary along the queries, in any float dtype.
struct FlashBranch : KeyValueArgs {
  DType mask_dtype;
  std::int64_t m_sq;
};

struct FlashArgs {
  std::int64_t lq;
  int heads;
  std::int64_t q_sb, q_sl, q_sh;
  std::int64_t o_sb, o_sl, o_sh;
  FlashBranch branch[kMaxBranches];
  int branches;
  float scale_log2;  // scale * log2(e)
};

template <typename T>
__device__ __forceinline__ void load_tile(T* tile, const T* src, std::int64_t ld, std::int64_t row0, std::int64_t len) {
  load_swizzled_rows<kFlashThreads, kKeys>(tile, src, ld, row0, len);
}

// kSum: more than one branch, so finished branches accumulate (normalised) into a second register tile.
template <typename T, bool kSum>
__global__ void __launch_bounds__(kFlashThreads, 4)
    flash_attention_kernel(T* out, const T* q, const __grid_constant__ FlashArgs a) {
  __shared__ __align__(128) T sq[kRows * kHeadDim];
  __shared__ __align__(128) T sk[2][kKeys * kHeadDim];
  __shared__ __align__(128) T sv[2][kKeys * kHeadDim];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  const int h = blockIdx.y;
  const std::int64_t b = blockIdx.z;
  const std::int64_t q0 = static_cast<std::int64_t>(blockIdx.x) * kRows;
  const T* qb = q + b * a.q_sb + h * a.q_sh;
  // Known at compile time for the single-branch kernel, so its per-tile branch bookkeeping folds away.
  const int branches = kSum ? a.branches : 1;
  auto keys_of = [&](const FlashBranch& br) { return static_cast<const T*>(br.k) + b * br.k_sb + h * br.k_sh; };
  auto values_of = [&](const FlashBranch& br) { return static_cast<const T*>(br.v) + b * br.v_sb + h * br.v_sh; };

  // Each branch's keys as this block sees them: all of them, or up to the last one its broadcast mask leaves
  // visible (at least one tile stays, so a branch masked everywhere still ends in torch's NaN).
  __shared__ std::int64_t keys_seen[kMaxBranches];
  __shared__ int tiles_of[kMaxBranches];
  if (threadIdx.x < branches) {
    const FlashBranch& br = a.branch[threadIdx.x];
    keys_seen[threadIdx.x] = br.mask != nullptr && br.m_sq == 0 ? 0 : br.lk;
  }
  __syncthreads();
  for (int i = 0; i < branches; ++i) {
    const FlashBranch& br = a.branch[i];
    if (br.mask == nullptr || br.m_sq != 0) continue;
    std::int64_t last = 0;
    for (std::int64_t key = threadIdx.x; key < br.lk; key += kFlashThreads)
      if (load_any(br.mask, br.mask_dtype, b * br.m_sb + key * br.m_sk) != -INFINITY) last = key + 1;
    atomicMax(reinterpret_cast<unsigned long long*>(&keys_seen[i]), static_cast<unsigned long long>(last));
  }
  __syncthreads();
  if (threadIdx.x < branches)
    tiles_of[threadIdx.x] = static_cast<int>(std::max<std::int64_t>(1, (keys_seen[threadIdx.x] + kKeys - 1) / kKeys));
  __syncthreads();
  int total_tiles = 0;
  for (int i = 0; i < branches; ++i) total_tiles += tiles_of[i];

  load_tile(sq, qb, a.q_sl, q0, a.lq);
  load_tile(sk[0], keys_of(a.branch[0]), a.branch[0].k_sl, 0, a.branch[0].lk);
  load_tile(sv[0], values_of(a.branch[0]), a.branch[0].v_sl, 0, a.branch[0].lk);
  cp_async_commit();

  unsigned qf[4][4];
  float o[8][4] = {};
  [[maybe_unused]] float sum[kSum ? 8 : 1][4] = {};
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  const std::int64_t row0 = q0 + warp * 16 + g, row1 = row0 + 8;

  // Tile j of the stream is tile jt of branch br.
  int br = 0, jt = 0;
  for (int j = 0; j < total_tiles; ++j) {
    const int st = j & 1;
    const FlashBranch& cur = a.branch[br];
    const std::int64_t lk = keys_seen[br];
    if (j + 1 < total_tiles) {
      const bool same = jt + 1 < tiles_of[br];
      const FlashBranch& next = a.branch[same ? br : br + 1];
      const std::int64_t next_row = same ? static_cast<std::int64_t>(jt + 1) * kKeys : 0;
      load_tile(sk[st ^ 1], keys_of(next), next.k_sl, next_row, next.lk);
      load_tile(sv[st ^ 1], values_of(next), next.v_sl, next_row, next.lk);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if (j == 0) {
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) ldmatrix_x4(qf[kk], sq + swizzle64(warp * 16 + (lane & 15), 2 * kk + (lane >> 4)));
    }

    // S = Q K^T for this warp's 16 rows and the tile's 64 keys (8 column blocks of 8), as far as keys reach.
    const std::int64_t key0 = static_cast<std::int64_t>(jt) * kKeys;
    const int keys_here = static_cast<int>(std::min<std::int64_t>(kKeys, std::max<std::int64_t>(lk - key0, 1)));
    const int column_blocks = (keys_here + 7) / 8, pv_steps = (keys_here + 15) / 16;
    float s[8][4] = {};
#pragma unroll
    for (int kk = 0; kk < 4; kk += 2) {
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        if (nt >= column_blocks) continue;
        unsigned kf[4];
        ldmatrix_x4(kf, sk[st] + swizzle64(nt * 8 + (lane & 7), 2 * kk + (lane >> 3)));
        mma_16816<T>(s[nt], qf[kk], kf[0], kf[1]);
        mma_16816<T>(s[nt], qf[kk + 1], kf[2], kf[3]);
      }
    }

    // Scores into the exp2 domain, with the mask and the padding keys applied. A whole unmasked tile (every
    // tile of self-attention but the last) needs neither, and the per-element checks cost issue slots the
    // softmax, not the tensor cores, is short of; its scores stay raw and the scale rides in the exponent's FMA
    // (the scale is positive, so the raw maximum is the scaled one's).
    float mx[2] = {-INFINITY, -INFINITY};
    float score_scale = a.scale_log2;
    if (keys_here == kKeys && cur.mask == nullptr) {
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) mx[e >> 1] = fmaxf(mx[e >> 1], s[nt][e]);
      }
    } else {
      score_scale = 1.0f;
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        if (nt >= column_blocks) continue;
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const std::int64_t key = key0 + nt * 8 + 2 * t + (e & 1);
          const std::int64_t row = e < 2 ? row0 : row1;
          float x = s[nt][e] * a.scale_log2;
          if (key >= lk) {
            x = -INFINITY;
          } else if (cur.mask != nullptr && row < a.lq) {
            x += load_any(cur.mask, cur.mask_dtype, b * cur.m_sb + row * cur.m_sq + key * cur.m_sk) * kLog2e;
          }
          s[nt][e] = x;
          mx[e >> 1] = fmaxf(mx[e >> 1], x);
        }
      }
    }
    float corr[2], base[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = quad_max(mx[r]);
      const float m_new = fmaxf(m[r], mx[r] * score_scale);
      // While every key so far is masked, m_new is -inf; a zero base keeps NaN out.
      base[r] = m_new == -INFINITY ? 0.0f : m_new;
      corr[r] = fast_exp2(m[r] - base[r]);
      m[r] = m_new;
      l[r] *= corr[r];
    }
    // Column blocks past the last key hold probability 0 (a 16-key PV step may still read one of them).
#pragma unroll
    for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float p = nt < column_blocks ? fast_exp2(fmaf(s[nt][e], score_scale, -base[e >> 1])) : 0.0f;
        s[nt][e] = p;
        l[e >> 1] += p;
      }
      o[nt][0] *= corr[0];
      o[nt][1] *= corr[0];
      o[nt][2] *= corr[1];
      o[nt][3] *= corr[1];
    }

    // O += P V.
#pragma unroll
    for (int ks = 0; ks < 4; ++ks)
      if (ks < pv_steps) accumulate_pv<T>(o, s[2 * ks], s[2 * ks + 1], sv[st], ks, lane);
    __syncthreads();  // this stage is refilled by the next iteration's prefetch
    if (jt + 1 < tiles_of[br]) {
      ++jt;
      continue;
    }
    if constexpr (kSum) {
      // Branch done: its normalised output joins the sum and the softmax state restarts. A fully masked row
      // divides 0 by 0 and gives NaN, as softmax over all -inf does in torch.
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float total = l[r] + __shfl_xor_sync(0xffffffffu, l[r], 1);
        total += __shfl_xor_sync(0xffffffffu, total, 2);
        const float inv = 1.0f / total;
#pragma unroll
        for (int dt = 0; dt < 8; ++dt) {
          sum[dt][2 * r] += o[dt][2 * r] * inv;
          sum[dt][2 * r + 1] += o[dt][2 * r + 1] * inv;
          o[dt][2 * r] = 0.0f;
          o[dt][2 * r + 1] = 0.0f;
        }
        m[r] = -INFINITY;
        l[r] = 0.0f;
      }
    }
    ++br;
    jt = 0;
  }

  float scale_row[2] = {1.0f, 1.0f};
  if constexpr (!kSum) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      l[r] = quad_sum(l[r]);
      scale_row[r] = 1.0f / l[r];
    }
  }
  auto store = [&](const float(&result)[8][4]) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const std::int64_t row = r == 0 ? row0 : row1;
      if (row >= a.lq) continue;
      T* orow = out + b * a.o_sb + row * a.o_sl + h * a.o_sh + 2 * t;
#pragma unroll
      for (int dt = 0; dt < 8; ++dt)
        *reinterpret_cast<unsigned*>(orow + dt * 8) =
            pack2<T>(result[dt][2 * r] * scale_row[r], result[dt][2 * r + 1] * scale_row[r]);
    }
  };
  if constexpr (kSum) store(sum);
  else store(o);
}

}  // namespace

bool flash_attention_sum(const Tensor& out, const Tensor& q, const std::vector<ops::KeyValueBranch>& branches,
                         float scale) {
  if (!flash_operands_fit(out, q, branches, kMaxBranches, kHeadDim)) return false;
  FlashArgs a{};
  pack_attention_args(a, out, q, branches, scale * kLog2e);
  a.heads = static_cast<int>(q.size(2));
  for (std::size_t i = 0; i < branches.size(); ++i)
    if (const Tensor* mask = branches[i].mask) {
      a.branch[i].mask_dtype = mask->dtype();
      a.branch[i].m_sq = mask->stride(1);
    }
  const dim3 grid(static_cast<unsigned>((a.lq + kRows - 1) / kRows), static_cast<unsigned>(q.size(2)),
                  static_cast<unsigned>(q.size(0)));
  dispatch_half(out.dtype(), [&]<typename T>() {
    dispatch_bool(branches.size() > 1, [&]<bool kSum>() {
      flash_attention_kernel<T, kSum><<<grid, kFlashThreads, 0, stream()>>>(out.data<T>(), q.data<T>(), a);
    });
  });
  WMA_CUDA_CHECK_LAUNCH();
  return true;
}

}  // namespace wma::cuda
