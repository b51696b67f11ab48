// Attention over short sequences (Lq, Lk <= 32), head dim 64, f16/bf16, no mask: the UNet's
// temporal self-attention over the 16 frames of each pixel, thousands of tiny sequences. The
// flash kernel's 64-row tiles would be 3/4 padding there, so this kernel gives one warp one
// (sequence, head) whole: its q, k, v rows come in by 16-byte cp.async into the warp's own
// swizzled shared memory (no block barrier: warps never wait for each other), QK^T and PV run
// on mma.sync m16n8k16 with fp32 accumulators, and since every key is in registers at once the
// softmax is exact in one pass. The output goes back through shared memory so that it leaves as
// whole 128-byte rows of 16-byte stores. Compute is a few cycles per byte moved: the kernel is
// bound by reading q, k, v and writing out once.
#include "backends/cuda/common.cuh"
#include "backends/cuda/flash_attention.h"
#include "backends/cuda/mma.cuh"

namespace wma::cuda {
namespace {

using namespace mma;

constexpr int kHeadDim = 64;
constexpr int kChunks = kHeadDim / 8;  // 16-byte chunks per row
constexpr int kMaxLen = 32;
constexpr int kWarps = 4;  // independent (sequence, head) pairs per block
constexpr int kShortThreads = kWarps * 32;
constexpr float kLog2e = 1.4426950408889634f;
static_assert(kMaxLen == 2 * 16, "two 16-row tiles hold the longest q, and KT = 2 16-key steps its keys");
static_assert(sizeof(__half) * kWarps * (kMaxLen + 2 * kMaxLen) * kHeadDim <= kDefaultSharedMemory,
              "every warp's q, k and v of the longest sequences fit without opt-in");

struct ShortArgs {
  std::int64_t pairs;  // sequences x heads
  int heads, lq, lk;
  int q_rows;  // query rows staged per warp: lq rounded up to 16 (one or two mma row tiles)
  std::int64_t q_sb, q_sl, q_sh;
  std::int64_t k_sb, k_sl, k_sh;
  std::int64_t v_sb, v_sl, v_sh;
  std::int64_t o_sb, o_sl, o_sh;
  float scale_log2;  // scale * log2(e)
};

// Rows [0, rows) of a [len, 64] slice (row stride `ld`) into a swizzled tile, by the 32 lanes of
// one warp; rows past `len` become zeros, so padding keys add exact zeros to PV and padding
// queries score finite values (they are never stored).
template <typename T>
__device__ __forceinline__ void load_rows(T* tile, const T* src, std::int64_t ld, int rows, int len, int lane) {
  for (int e = lane; e < rows * kChunks; e += 32) {
    const int r = e / kChunks, c = e % kChunks;
    const bool valid = r < len;
    cp_async_16(tile + swizzle64(r, c), valid ? src + r * ld + c * 8 : src, valid);
  }
}

// KT: 16-key steps (1 for lk <= 16, 2 for lk <= 32), so the score fragments stay in registers.
template <typename T, int KT>
__global__ void __launch_bounds__(kShortThreads)
    short_attention_kernel(T* out, const T* q, const T* k, const T* v, ShortArgs a) {
  constexpr int kKeyRows = 16 * KT;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;
  const std::int64_t pair = static_cast<std::int64_t>(blockIdx.x) * kWarps + warp;
  // No block-wide barrier follows, so a warp without a pair can leave.
  if (pair >= a.pairs) return;
  const std::int64_t b = pair / a.heads;
  const int h = static_cast<int>(pair % a.heads);
  T* sq = reinterpret_cast<T*>(smem_raw) + static_cast<std::size_t>(warp) * (a.q_rows + 2 * kKeyRows) * kHeadDim;
  T* sk = sq + a.q_rows * kHeadDim;
  T* sv = sk + kKeyRows * kHeadDim;

  load_rows(sq, q + b * a.q_sb + h * a.q_sh, a.q_sl, a.q_rows, a.lq, lane);
  load_rows(sk, k + b * a.k_sb + h * a.k_sh, a.k_sl, kKeyRows, a.lk, lane);
  load_rows(sv, v + b * a.v_sb + h * a.v_sh, a.v_sl, kKeyRows, a.lk, lane);
  asm volatile("cp.async.commit_group;\n" ::);
  asm volatile("cp.async.wait_group 0;\n" ::);
  __syncwarp();  // every lane's copies are visible to the whole warp

  T* const ob = out + b * a.o_sb + h * a.o_sh;
  for (int m0 = 0; m0 < a.q_rows; m0 += 16) {
    unsigned qf[4][4];
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) ldmatrix_x4(qf[kk], sq + swizzle64(m0 + (lane & 15), 2 * kk + (lane >> 4)));

    // S = Q K^T for these 16 query rows against all keys (2 KT column blocks of 8).
    float s[2 * KT][4] = {};
#pragma unroll
    for (int kk = 0; kk < 4; kk += 2) {
#pragma unroll
      for (int nt = 0; nt < 2 * KT; ++nt) {
        unsigned kf[4];
        ldmatrix_x4(kf, sk + swizzle64(nt * 8 + (lane & 7), 2 * kk + (lane >> 3)));
        mma_16816<T>(s[nt], qf[kk], kf[0], kf[1]);
        mma_16816<T>(s[nt], qf[kk + 1], kf[2], kf[3]);
      }
    }

    // Softmax over the whole row at once, in the exp2 domain; padding keys get -inf. Each row's
    // scores are spread over the 4 lanes of a quad. lk >= 1, so every row has a finite maximum.
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int nt = 0; nt < 2 * KT; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = nt * 8 + 2 * t + (e & 1);
        const float x = key < a.lk ? s[nt][e] * a.scale_log2 : -INFINITY;
        s[nt][e] = x;
        mx[e >> 1] = fmaxf(mx[e >> 1], x);
      }
    }
    float l[2] = {0.0f, 0.0f};
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = quad_max(mx[r]);
    }
#pragma unroll
    for (int nt = 0; nt < 2 * KT; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float p = exp2f(s[nt][e] - mx[e >> 1]);
        s[nt][e] = p;
        l[e >> 1] += p;
      }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      l[r] = quad_sum(l[r]);
      l[r] = 1.0f / l[r];
    }

    // O = P V.
    float o[8][4] = {};
#pragma unroll
    for (int ks = 0; ks < KT; ++ks) accumulate_pv<T>(o, s[2 * ks], s[2 * ks + 1], sv, ks, lane);

    // The fragments hold 4-byte pieces of two rows per lane; staged in this tile's own query
    // rows (already in registers, so no other lane still reads them) they leave as whole rows.
    T* so = sq + m0 * kHeadDim;
    __syncwarp();
#pragma unroll
    for (int dt = 0; dt < 8; ++dt) {
      *reinterpret_cast<unsigned*>(so + swizzle64(g, dt) + 2 * t) = pack2<T>(o[dt][0] * l[0], o[dt][1] * l[0]);
      *reinterpret_cast<unsigned*>(so + swizzle64(g + 8, dt) + 2 * t) = pack2<T>(o[dt][2] * l[1], o[dt][3] * l[1]);
    }
    __syncwarp();
#pragma unroll
    for (int e = lane; e < 16 * kChunks; e += 32) {
      const int r = e / kChunks, c = e % kChunks;
      if (m0 + r < a.lq)
        *reinterpret_cast<uint4*>(ob + (m0 + r) * a.o_sl + c * 8) =
            *reinterpret_cast<const uint4*>(so + swizzle64(r, c));
    }
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<std::uintptr_t>(p) & 15u) == 0; }

}  // namespace

bool short_attention(const Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                     float scale) {
  const DType dt = out.dtype();
  if (dt != DType::F16 && dt != DType::BF16) return false;
  if (mask != nullptr || q.size(3) != kHeadDim || v.size(3) != kHeadDim) return false;
  const std::int64_t lq = q.size(1), lk = k.size(1);
  if (lq < 1 || lq > kMaxLen || lk < 1 || lk > kMaxLen) return false;
  // cp.async and the output stores move 16-byte chunks: every row must start on a 16-byte boundary.
  for (const Tensor* t : {&q, &k, &v, &out}) {
    if (!aligned16(t->data_ptr())) return false;
    for (int d = 0; d < 3; ++d)
      if (t->size(d) > 1 && t->stride(d) % 8 != 0) return false;
  }
  ShortArgs a{};
  a.pairs = q.size(0) * q.size(2);
  a.heads = static_cast<int>(q.size(2));
  a.lq = static_cast<int>(lq);
  a.lk = static_cast<int>(lk);
  a.q_rows = static_cast<int>((lq + 15) / 16 * 16);
  a.q_sb = q.stride(0), a.q_sl = q.stride(1), a.q_sh = q.stride(2);
  a.k_sb = k.stride(0), a.k_sl = k.stride(1), a.k_sh = k.stride(2);
  a.v_sb = v.stride(0), a.v_sl = v.stride(1), a.v_sh = v.stride(2);
  a.o_sb = out.stride(0), a.o_sl = out.stride(1), a.o_sh = out.stride(2);
  a.scale_log2 = scale * kLog2e;
  const std::int64_t blocks = (a.pairs + kWarps - 1) / kWarps;
  if (a.pairs == 0 || blocks > 0x7fffffff) return false;
  const int key_rows = lk <= 16 ? 16 : 32;
  auto launch = [&]<typename T>() {
    const std::size_t smem = sizeof(T) * kWarps * (a.q_rows + 2 * key_rows) * kHeadDim;
    auto* kernel = key_rows == 16 ? short_attention_kernel<T, 1> : short_attention_kernel<T, 2>;
    kernel<<<static_cast<unsigned>(blocks), kShortThreads, smem, stream()>>>(out.data<T>(), q.data<T>(), k.data<T>(),
                                                                             v.data<T>(), a);
  };
  if (dt == DType::F16) launch.operator()<__half>();
  else launch.operator()<__nv_bfloat16>();
  WMA_CUDA_CHECK_LAUNCH();
  return true;
}

}  // namespace wma::cuda
