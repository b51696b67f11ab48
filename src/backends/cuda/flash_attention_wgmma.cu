// Flash attention on Hopper's warpgroup MMA (wgmma, sm_90a) for the UNet's unmasked spatial self-attention, head
// dim 64, f16/bf16. The mma.sync kernel (flash_attention.cu) is bound by instruction issue, not by the tensor
// cores: per 64-key tile each warp issues 64 HMMAs and 32 ldmatrix besides its softmax (ncu, docs/performance.md).
// Here one wgmma computes a 64x64 tile for a whole warpgroup straight from shared memory, so the MMA side of the
// loop shrinks to 8 instructions per tile and the issue slots go to the softmax; two blocks of two warpgroups per
// SM let one warpgroup's softmax run while another's MMAs do.
//
// Block: 2 warpgroups x 64 queries of one (batch, head); 64-key tiles of K and V double-buffered by cp.async into
// the 128-byte-swizzled layout wgmma reads (row r's 16-byte chunk c at chunk c ^ (r % 8), tiles on 1024-byte
// boundaries, the swizzle being applied to address bits). S = Q K^T: A = Q and B = K both K-major (head dim
// contiguous); O += P V: A = P from registers (the S accumulator layout is the A-fragment layout), B = V
// MN-major (transposed read). Softmax online in fp32, exp2 domain, as the mma.sync kernel.
//
// The branched variant is upstream's cross-attention: up to kMaxBranches key/value sets over one Q, each with its
// own softmax, their normalised outputs summed. Their tiles stream one after the other through the same two
// stages; a branch's mask may only vary along the keys (broadcast over the queries, as the action branch's
// block-causal mask is), so the keys it hides from every row past the last visible one are never loaded. The
// running sum lives in shared memory, one column per thread, since 32 more accumulator registers would cost the
// second block per SM.
#include "backends/cuda/common.cuh"
#include "backends/cuda/flash_attention.h"
#include "backends/cuda/mma.cuh"

// Only sm_90a code has wgmma; every other architecture in the build gets an empty kernel that is never launched
// (wgmma_attention_compiled() tells the two apart at start-up).
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define WMA_WGMMA_CODE 1
#else
#define WMA_WGMMA_CODE 0
#endif

namespace wma::cuda {
namespace {

using namespace mma;

constexpr int kHeadDim = 64;
constexpr int kRowBytes = kHeadDim * 2;  // one 128-byte swizzle row per query or key
constexpr int kGroups = 2;               // warpgroups per block
constexpr int kGroupRows = 64;           // wgmma's M
constexpr int kRows = kGroups * kGroupRows;
constexpr int kKeys = 64;
constexpr int kBlockThreads = kGroups * 128;
constexpr int kStages = 2;
constexpr int kSwizzleAtom = 1024;  // 8 rows of 128 bytes
constexpr std::size_t kSmemBytes =
    static_cast<std::size_t>(kRows + 2 * kStages * kKeys) * kRowBytes + kSwizzleAtom;  // + alignment slack
constexpr int kAccumulators = 32;  // a 64x64 fp32 tile over the 128 threads of a warpgroup
constexpr std::size_t kSumBytes = sizeof(float) * kAccumulators * kBlockThreads;
constexpr int kMaxBranches = 4;
constexpr float kLog2e = 1.4426950408889634f;
static_assert(kRowBytes == 128, "one swizzle row per head-dim row");
static_assert(kRows * kRowBytes % kSwizzleAtom == 0 && kKeys * kRowBytes % kSwizzleAtom == 0,
              "every tile starts on a swizzle-atom boundary");
static_assert(kAccumulators * 128 == kGroupRows * kKeys && kAccumulators * 128 == kGroupRows * kHeadDim,
              "S and O are each one m64n64 wgmma accumulator per warpgroup");
static_assert(kMaxBranches <= kBlockThreads, "one thread sets up each branch's key range");
// Hopper's shared memory: 228 KB per SM, a block may opt in to 227 KB, and the system reserves 1 KB per block.
constexpr std::size_t kHopperSmemPerSm = 228 * 1024;
constexpr std::size_t kHopperSmemPerBlock = 227 * 1024;
constexpr std::size_t kSmemReservedPerBlock = 1024;
constexpr std::size_t kStaticSmemBytes = kMaxBranches * (sizeof(std::int64_t) + sizeof(int));  // keys_seen, tiles_of
static_assert(kSmemBytes + kSumBytes + kStaticSmemBytes <= kHopperSmemPerBlock,
              "the branched kernel's opt-in stays within a block's limit");
static_assert(2 * (kSmemBytes + kSumBytes + kStaticSmemBytes + kSmemReservedPerBlock) <= kHopperSmemPerSm,
              "two blocks per SM (__launch_bounds__) fit the SM's shared memory");

__device__ int g_wgmma_code = WMA_WGMMA_CODE;

// Masks here are [batch or 1, *, lk] in the activations' dtype with query stride 0.
using WgmmaBranch = KeyValueArgs;

struct WgmmaArgs {
  std::int64_t lq;
  std::int64_t q_sb, q_sl, q_sh;
  std::int64_t o_sb, o_sl, o_sh;
  WgmmaBranch branch[kMaxBranches];
  int branches;
  float scale_log2;
};

#if WMA_WGMMA_CODE
// Shared-memory matrix descriptor (PTX ISA, "Matrix Descriptor Format"): start address, leading and stride byte
// offsets (16-byte units) and the 128-byte swizzle mode. K-major: the stride offset steps 8 rows, the leading one
// is unused. MN-major (V): the stride offset steps 8 rows of K; the leading one would step 64 columns of N, which
// one 64-wide tile never does.
__device__ __forceinline__ std::uint64_t smem_desc(const void* p, unsigned leading_bytes, unsigned stride_bytes) {
  const unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(p));
  return static_cast<std::uint64_t>((address & 0x3FFFF) >> 4) | static_cast<std::uint64_t>(leading_bytes >> 4) << 16 |
         static_cast<std::uint64_t>(stride_bytes >> 4) << 32 | std::uint64_t{1} << 62;
}
// A descriptor advanced by `bytes` (the next 16 columns of a K-major tile sit 32 bytes on, inside the swizzle row).
__device__ __forceinline__ std::uint64_t advance(std::uint64_t desc, unsigned bytes) { return desc + (bytes >> 4); }

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_wait_all() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }
// cp.async writes through the generic proxy, wgmma reads through the async one.
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
// Ties the accumulators to the preceding asm: without it the compiler may read them between the wgmma and its
// wait, or write them while the wgmma still runs.
__device__ __forceinline__ void fence_registers(float (&d)[kAccumulators]) {
#pragma unroll
  for (int i = 0; i < kAccumulators; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

#define WMA_D32                                                                                                     \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, " \
  "%24, %25, %26, %27, %28, %29, %30, %31}"

#define WMA_D32_OPERANDS                                                                                      \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), \
      "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]),  \
      "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), \
      "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])

// wgmma_ss: D (64x64, fp32) = A B (+ D when accumulate), A and B from shared memory, both K-major.
// wgmma_rs: D += A B, A (64x16) from registers in the accumulator's row layout, B from shared memory, MN-major.
template <typename T>
__device__ __forceinline__ void wgmma_ss(float (&d)[32], std::uint64_t a, std::uint64_t b, int accumulate);
template <typename T>
__device__ __forceinline__ void wgmma_rs(float (&d)[32], const unsigned (&a)[4], std::uint64_t b);
#define WMA_WGMMA_FOR(T, PTX_TYPE)                                                                               \
  template <>                                                                                                    \
  __device__ __forceinline__ void wgmma_ss<T>(float(&d)[32], std::uint64_t a, std::uint64_t b, int accumulate) { \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                                                    \
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32." PTX_TYPE "." PTX_TYPE " " WMA_D32                 \
                 ", %32, %33, p, 1, 1, 0, 0;\n}\n"                                                               \
                 : WMA_D32_OPERANDS                                                                              \
                 : "l"(a), "l"(b), "r"(accumulate));                                                             \
  }                                                                                                              \
  template <>                                                                                                    \
  __device__ __forceinline__ void wgmma_rs<T>(float(&d)[32], const unsigned(&a)[4], std::uint64_t b) {           \
    asm volatile("wgmma.mma_async.sync.aligned.m64n64k16.f32." PTX_TYPE "." PTX_TYPE " " WMA_D32                 \
                 ", {%32, %33, %34, %35}, %36, 1, 1, 1, 1;\n"                                                    \
                 : WMA_D32_OPERANDS                                                                              \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));                                          \
  }
WMA_WGMMA_FOR(__half, "f16")
WMA_WGMMA_FOR(__nv_bfloat16, "bf16")
#undef WMA_WGMMA_FOR
#undef WMA_D32_OPERANDS
#undef WMA_D32
#endif  // WMA_WGMMA_CODE

// kBranched: the cross-attention form (several branches, broadcast masks, the sum); otherwise one unmasked
// branch, whose loop keeps none of that bookkeeping.
template <typename T, bool kBranched>
__global__ void __launch_bounds__(kBlockThreads, 2)
    flash_attention_wgmma_kernel(T* out, const T* q, const __grid_constant__ WgmmaArgs a) {
#if WMA_WGMMA_CODE
  extern __shared__ unsigned char smem_raw[];
  const unsigned raw = static_cast<unsigned>(__cvta_generic_to_shared(smem_raw));
  T* sq = reinterpret_cast<T*>(smem_raw + ((kSwizzleAtom - raw % kSwizzleAtom) % kSwizzleAtom));
  T* sk = sq + kRows * kHeadDim;  // [kStages][kKeys * kHeadDim]
  T* sv = sk + kStages * kKeys * kHeadDim;
  [[maybe_unused]] float* sum = reinterpret_cast<float*>(sv + kStages * kKeys * kHeadDim);  // [32][threads]
  const int group = threadIdx.x / 128, warp = (threadIdx.x / 32) % 4, lane = threadIdx.x % 32;
  const int g = lane >> 2, t = lane & 3;
  const int h = blockIdx.y;
  const std::int64_t b = blockIdx.z;
  const std::int64_t q0 = static_cast<std::int64_t>(blockIdx.x) * kRows;
  auto keys_of = [&](const WgmmaBranch& br) { return static_cast<const T*>(br.k) + b * br.k_sb + h * br.k_sh; };
  auto values_of = [&](const WgmmaBranch& br) { return static_cast<const T*>(br.v) + b * br.v_sb + h * br.v_sh; };

  // The keys of each branch this block attends to: all of them, or up to the last one its mask leaves visible
  // in this batch row (at least one tile, so a branch masked everywhere still ends in torch's NaN).
  __shared__ std::int64_t keys_seen[kMaxBranches];
  __shared__ int tiles_of[kMaxBranches];
  int total_tiles = static_cast<int>((a.branch[0].lk + kKeys - 1) / kKeys);
  if constexpr (kBranched) {
    if (threadIdx.x < a.branches) {
      const WgmmaBranch& br = a.branch[threadIdx.x];
      keys_seen[threadIdx.x] = br.mask != nullptr ? 0 : br.lk;
    }
    __syncthreads();
    for (int i = 0; i < a.branches; ++i) {
      const WgmmaBranch& br = a.branch[i];
      if (br.mask == nullptr) continue;
      std::int64_t last = 0;
      const T* mask_row = static_cast<const T*>(br.mask) + b * br.m_sb;
      for (std::int64_t key = threadIdx.x; key < br.lk; key += kBlockThreads)
        if (to_float(mask_row[key * br.m_sk]) != -INFINITY) last = key + 1;
      atomicMax(reinterpret_cast<unsigned long long*>(&keys_seen[i]), static_cast<unsigned long long>(last));
    }
    __syncthreads();
    if (threadIdx.x < a.branches)
      tiles_of[threadIdx.x] = static_cast<int>(std::max<std::int64_t>(1, (keys_seen[threadIdx.x] + kKeys - 1) / kKeys));
    __syncthreads();
    total_tiles = 0;
    for (int i = 0; i < a.branches; ++i) total_tiles += tiles_of[i];
  }

  load_swizzled_rows<kBlockThreads, kRows>(sq, q + b * a.q_sb + h * a.q_sh, a.q_sl, q0, a.lq);
  load_swizzled_rows<kBlockThreads, kKeys>(sk, keys_of(a.branch[0]), a.branch[0].k_sl, 0, a.branch[0].lk);
  load_swizzled_rows<kBlockThreads, kKeys>(sv, values_of(a.branch[0]), a.branch[0].v_sl, 0, a.branch[0].lk);
  cp_async_commit();

  const std::uint64_t q_desc = smem_desc(sq + group * kGroupRows * kHeadDim, 16, kSwizzleAtom);
  float s[kAccumulators] = {}, o[kAccumulators] = {};
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  // Tile j of the stream is tile jt of branch br.
  int br = 0, jt = 0;
  for (int j = 0; j < total_tiles; ++j) {
    const int st = j & 1;
    const WgmmaBranch& cur = a.branch[br];
    const std::int64_t lk = kBranched ? keys_seen[br] : cur.lk;
    if (j + 1 < total_tiles) {
      const bool same = !kBranched || jt + 1 < tiles_of[br];
      const WgmmaBranch& next = a.branch[same ? br : br + 1];
      const std::int64_t next_row = same ? static_cast<std::int64_t>(jt + 1) * kKeys : 0;
      load_swizzled_rows<kBlockThreads, kKeys>(sk + (st ^ 1) * kKeys * kHeadDim, keys_of(next), next.k_sl, next_row,
                                               next.lk);
      load_swizzled_rows<kBlockThreads, kKeys>(sv + (st ^ 1) * kKeys * kHeadDim, values_of(next), next.v_sl, next_row,
                                               next.lk);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    fence_proxy_async();
    __syncthreads();

    // S = Q K^T over the head dim in four 16-wide steps.
    const std::uint64_t k_desc = smem_desc(sk + st * kKeys * kHeadDim, 16, kSwizzleAtom);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kHeadDim / 16; ++kk) wgmma_ss<T>(s, advance(q_desc, 32 * kk), advance(k_desc, 32 * kk), kk);
    wgmma_commit();
    wgmma_wait_all();
    fence_registers(s);

    // This thread holds rows g and g + 8 of its warp's 16, columns 8 nt + 2 t + {0, 1}: s[4 nt + e], e < 2 on
    // the first row. A whole unmasked tile keeps raw scores and the scale rides in the exponent's FMA (it is
    // positive, so the raw maximum is the scaled one's); the last tile of a branch has padding keys, a masked
    // one its mask's values.
    const std::int64_t key0 = static_cast<std::int64_t>(jt) * kKeys;
    const int keys_here = static_cast<int>(std::min<std::int64_t>(lk - key0, kKeys));  // <= 0: all masked
    float score_scale = a.scale_log2;
    float mx[2] = {-INFINITY, -INFINITY};
    if (keys_here == kKeys && (!kBranched || cur.mask == nullptr)) {
#pragma unroll
      for (int i = 0; i < kAccumulators; ++i) mx[(i >> 1) & 1] = fmaxf(mx[(i >> 1) & 1], s[i]);
    } else {
      score_scale = 1.0f;
      // The mask has the activations' dtype (the host checks), so its loads need no dtype switch.
      const T* mask_row =
          kBranched && cur.mask != nullptr ? static_cast<const T*>(cur.mask) + b * cur.m_sb + key0 * cur.m_sk : nullptr;
#pragma unroll
      for (int i = 0; i < kAccumulators; ++i) {
        const int key = (i >> 2) * 8 + 2 * t + (i & 1);
        float x = s[i] * a.scale_log2;
        if (key >= keys_here) x = -INFINITY;
        else if (mask_row != nullptr) x += to_float(mask_row[key * cur.m_sk]) * kLog2e;
        s[i] = x;
        mx[(i >> 1) & 1] = fmaxf(mx[(i >> 1) & 1], x);
      }
    }
    float corr[2], base[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = quad_max(mx[r]);
      const float m_new = fmaxf(m[r], mx[r] * score_scale);
      // Unmasked, every tile has a real key and m_new is finite; while a mask hides every key so far it is
      // -inf, and a zero base keeps NaN out.
      base[r] = kBranched && m_new == -INFINITY ? 0.0f : m_new;
      corr[r] = fast_exp2(m[r] - base[r]);
      m[r] = m_new;
      l[r] *= corr[r];
    }
    unsigned p[4][4];
#pragma unroll
    for (int i = 0; i < kAccumulators; i += 2) {
      const int r = (i >> 1) & 1;
      const float p0 = fast_exp2(fmaf(s[i], score_scale, -base[r]));
      const float p1 = fast_exp2(fmaf(s[i + 1], score_scale, -base[r]));
      l[r] += p0 + p1;
      // Column block nt = i / 4 is half of 16-key step nt / 2: registers 0/1 (blocks 2ks) and 2/3 (2ks + 1).
      p[i >> 3][((i >> 2) & 1) * 2 + r] = pack2<T>(p0, p1);
      o[i] *= corr[r];
      o[i + 1] *= corr[r];
    }

    // O += P V over the tile's keys in four 16-key steps.
    const std::uint64_t v_desc = smem_desc(sv + st * kKeys * kHeadDim, kSwizzleAtom, kSwizzleAtom);
    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < kKeys / 16; ++ks) wgmma_rs<T>(o, p[ks], advance(v_desc, 16 * kRowBytes * ks));
    wgmma_commit();
    wgmma_wait_all();
    fence_registers(o);
    __syncthreads();  // this stage is refilled by the next iteration's prefetch
    ++jt;
    if constexpr (kBranched) {
      if (jt < tiles_of[br]) continue;
      // Branch done: its normalised output joins the sum and the softmax state restarts. A fully masked row
      // divides 0 by 0 and gives NaN, as softmax over all -inf does in torch.
      float inv[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float total = l[r] + __shfl_xor_sync(0xffffffffu, l[r], 1);
        total += __shfl_xor_sync(0xffffffffu, total, 2);
        inv[r] = 1.0f / total;
        m[r] = -INFINITY;
        l[r] = 0.0f;
      }
#pragma unroll
      for (int i = 0; i < kAccumulators; ++i) {
        float& cell = sum[i * kBlockThreads + threadIdx.x];
        const float part = o[i] * inv[(i >> 1) & 1];
        cell = br == 0 ? part : cell + part;
        o[i] = 0.0f;
      }
      ++br;
      jt = 0;
    }
  }

  float inv[2] = {1.0f, 1.0f};
  if constexpr (kBranched) {
#pragma unroll
    for (int i = 0; i < kAccumulators; ++i) o[i] = sum[i * kBlockThreads + threadIdx.x];
  } else {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      l[r] = quad_sum(l[r]);
      inv[r] = 1.0f / l[r];
    }
  }
  const std::int64_t row0 = q0 + group * kGroupRows + warp * 16 + g;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const std::int64_t row = row0 + 8 * r;
    if (row >= a.lq) continue;
    T* orow = out + b * a.o_sb + row * a.o_sl + h * a.o_sh + 2 * t;
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
      *reinterpret_cast<unsigned*>(orow + nt * 8) =
          pack2<T>(o[4 * nt + 2 * r] * inv[r], o[4 * nt + 2 * r + 1] * inv[r]);
  }
#endif
}

}  // namespace

bool wgmma_attention_compiled() {
  int code = 0;
  WMA_CUDA_CHECK(cudaMemcpyFromSymbol(&code, g_wgmma_code, sizeof code));
  return code == 1;
}

bool flash_attention_wgmma_sum(const Tensor& out, const Tensor& q, const std::vector<ops::KeyValueBranch>& branches,
                               float scale) {
  const DType dt = out.dtype();
  if (!context().wgmma_ || !flash_operands_fit(out, q, branches, kMaxBranches, kHeadDim)) return false;
  bool masked = false;
  for (const ops::KeyValueBranch& kv : branches) {
    // A mask that varies along the queries, or of another dtype, stays on the mma.sync kernel.
    if (kv.mask != nullptr && ((kv.mask->size(1) > 1 && kv.mask->stride(1) != 0) || kv.mask->dtype() != dt))
      return false;
    masked = masked || kv.mask != nullptr;
  }
  WgmmaArgs a{};
  pack_attention_args(a, out, q, branches, scale * kLog2e);
  const bool branched = branches.size() > 1 || masked;
  const std::size_t smem = kSmemBytes + (branched ? kSumBytes : 0);
  const dim3 grid(static_cast<unsigned>((a.lq + kRows - 1) / kRows), static_cast<unsigned>(q.size(2)),
                  static_cast<unsigned>(q.size(0)));
  auto launch = [&]<typename T, bool kBranched>() {
    static const bool configured = [] {
      WMA_CUDA_CHECK(cudaFuncSetAttribute(flash_attention_wgmma_kernel<T, kBranched>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(kSmemBytes + (kBranched ? kSumBytes : 0))));
      return true;
    }();
    (void)configured;
    flash_attention_wgmma_kernel<T, kBranched><<<grid, kBlockThreads, smem, stream()>>>(out.data<T>(), q.data<T>(), a);
  };
  dispatch_half(dt, [&]<typename T>() {
    dispatch_bool(branched, [&]<bool kBranched>() { launch.template operator()<T, kBranched>(); });
  });
  WMA_CUDA_CHECK_LAUNCH();
  return true;
}

}  // namespace wma::cuda
