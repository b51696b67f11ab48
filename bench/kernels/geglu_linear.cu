// Kernel lab: the feed-forward's first linear with GEGLU in its epilogue (issues 13 and 14).
//
//   out[m, j] = (x W[j]^T + b[j]) * gelu(x W[F + j]^T + b[F + j]),  x [M, K], W [2F, K] (nn.Linear, K-major)
//
// Today the engine runs this as a cuBLASLt GEMM with a bias epilogue writing the [M, 2F] projection, then a GEGLU
// pass that reads it back: at L0 (M = 40960, K = 320, F = 1280) 210 MB written and read again, 105 MB written.
// Fused, the projection never leaves the registers: a tile's value and gate columns are one wgmma's B operand (the
// W rows j0.. and F + j0.. stacked in shared memory), so each thread holds a value and its gate side by side.
//
// Versions (all f16/bf16 in, fp32 accumulation):
//   1  cuBLASLt (fastest of its heuristic's first candidates, by timing) + a separate vectorised GEGLU pass: the
//      engine's composition, the baseline.
//   2  wgmma m64n256k16 (sm_90a), 128x128 output tile (B tile 256 rows: 128 value + 128 gate), two consumer
//      warpgroups, 4-stage cp.async pipeline into 128-byte-swizzled tiles, GEGLU in the epilogue.
//   3  as 2 with a 128x64 output tile (m64n128k16), 6 stages.
//   4  as 3 with 3 stages, two CTAs per SM (one's epilogue and pipeline fill under the other's MMAs).
//   5  as 2, persistent: one CTA per SM walks its tiles as one stream of k steps, the next tile's copies in
//      flight during this one's epilogue.
//   6  as 4, persistent.
//   7  as 2, fed by TMA: a producer warp and two consumer warpgroups synchronised by mbarriers (full/empty per
//      stage), no block-wide barrier in the loop.
//   8  as 7, persistent: the producer fills the next tile's stages during this tile's epilogue.
//   9  ping-pong: each consumer warpgroup owns whole 128 x 64 output tiles (two m64n128k16 per k16, B = 64 value +
//      64 gate rows), the CTA's tiles alternating between the two, so one's epilogue runs under the other's
//      MMAs; 6 stages.
//  10  as 8 in clusters of two CTAs on vertically adjacent tiles: each producer loads its A and half of the shared
//      B tile, multicast to both, so B is read from L2 once per pair.
// And for the main loop alone, against cuBLASLt on the same [M, 2F] GEMM with bias:
//   g1 cuBLASLt, g2 version 2's main loop with a plain bias epilogue (128x256 tile), g3 version 4's, g4 version 5's,
//   g5 version 7's, g6 version 8's, g7 version 9's (128 x 128 tiles),
//   g8 version 10's.
//
// Validation: every output checked finite after a NaN-poisoned launch; sampled rows (all columns) against a double
// reference computed from the same 16-bit inputs, ||out - ref|| / ||ref|| <= 2e-3 (fp16) or 1e-2 (bf16).
// Timing: L2 flushed before every repetition (a 256 MB memset), CUDA events, median of the repetitions.
//
// Build (the GPU machine): nvcc -std=c++20 -O3 -gencode arch=compute_90a,code=sm_90a
//   bench/kernels/geglu_linear.cu -lcublasLt -o geglu_linear
// Results: bench/kernels/README.md.
#include <cublasLt.h>
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#define CHECK(call)                                                                               \
  do {                                                                                            \
    cudaError_t e_ = (call);                                                                      \
    if (e_ != cudaSuccess) {                                                                      \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
      std::exit(1);                                                                               \
    }                                                                                             \
  } while (0)
#define CHECK_LT(call)                                                                                        \
  do {                                                                                                        \
    cublasStatus_t s_ = (call);                                                                               \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                        \
      std::fprintf(stderr, "%s:%d: %s: cublas status %d\n", __FILE__, __LINE__, #call, static_cast<int>(s_)); \
      std::exit(1);                                                                                           \
    }                                                                                                         \
  } while (0)

namespace {

template <typename T>
__device__ __forceinline__ float to_f(T v) {
  if constexpr (std::is_same_v<T, __half>) return __half2float(v);
  else return __bfloat162float(v);
}
template <typename T>
__device__ __forceinline__ T from_f(float v) {
  if constexpr (std::is_same_v<T, __half>) return __float2half_rn(v);
  else return __float2bfloat16_rn(v);
}
template <typename T>
__device__ __forceinline__ unsigned pack2(float lo, float hi) {
  T l = from_f<T>(lo), h = from_f<T>(hi);
  unsigned short a, b;
  std::memcpy(&a, &l, 2);
  std::memcpy(&b, &h, 2);
  return static_cast<unsigned>(a) | static_cast<unsigned>(b) << 16;
}

__device__ __forceinline__ float gelu(float g) { return 0.5f * g * (1.0f + erff(g * 0.70710678118654752f)); }

// ---- version 1's second pass: out[m, j] = h[m, j] * gelu(h[m, F + j]), 8 columns per thread.
template <typename T>
__global__ void geglu_kernel(T* out, const T* h, std::int64_t rows, int f) {
  const std::int64_t n = rows * f / 8;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t e = i * 8, r = e / f, c = e % f;
    alignas(16) T v[8], g[8], o[8];
    *reinterpret_cast<uint4*>(v) = *reinterpret_cast<const uint4*>(h + r * 2 * f + c);
    *reinterpret_cast<uint4*>(g) = *reinterpret_cast<const uint4*>(h + r * 2 * f + f + c);
#pragma unroll
    for (int k = 0; k < 8; ++k) o[k] = from_f<T>(to_f(v[k]) * gelu(to_f(g[k])));
    *reinterpret_cast<uint4*>(out + e) = *reinterpret_cast<const uint4*>(o);
  }
}

// ---- wgmma building blocks (sm_90a).
__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
__device__ __forceinline__ std::uint64_t smem_desc(const void* p) {
  const unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(p));
  // 128-byte swizzle, K-major: the stride offset steps 8 rows (1024 bytes), the leading one is unused.
  return static_cast<std::uint64_t>((address & 0x3FFFF) >> 4) | std::uint64_t{1} << 16 |
         std::uint64_t{1024 >> 4} << 32 | std::uint64_t{1} << 62;
}
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
// Reads accumulator i after the preceding wgmma wait (volatile asm keeps its place), without redefining it: a
// redefinition would meet the wgmma's in the loop's phi, and ptxas then waits for every wgmma there (C7517).
__device__ __forceinline__ float read_after_wait(const float& d) {
  float v;
  asm volatile("mov.b32 %0, %1;\n" : "=f"(v) : "f"(d));
  return v;
}

#define WMA_LAB_D128                                                                                                \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, " \
  "%24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, "  \
  "%46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"
#define WMA_LAB_D128_OPS                                                                                      \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), \
      "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]),  \
      "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), \
      "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), \
      "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), \
      "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), \
      "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), \
      "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
#define WMA_LAB_D256                                                                                                \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, " \
  "%24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, "  \
  "%46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, "  \
  "%68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, "  \
  "%90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, "  \
  "%110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}"
#define WMA_LAB_D256_OPS                                                                                              \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]),         \
      "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]),          \
      "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),         \
      "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]),         \
      "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]),         \
      "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]),         \
      "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]),         \
      "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), "+f"(d[64]),         \
      "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), "+f"(d[72]),         \
      "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]),         \
      "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]),         \
      "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]),         \
      "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]),    \
      "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), "+f"(d[112]), \
      "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), \
      "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])

// One warpgroup's 64-row accumulator (m64nNk16 layout: thread (warp w, lane l) holds rows 16 w + l / 4 (+ 8),
// columns 8 i + 2 (l % 4) (+ 1)) to out: bias, then GEGLU (value block i beside gate block i + kCols / 8) or not.
// `row` is the thread's first row, n0 the tile's first output column.
template <typename T, bool kGeglu, int kCols, int kAcc>
__device__ __forceinline__ void store_accumulators(T* out, const T* bias, const float (&acc)[kAcc], std::int64_t row,
                                                   int n0, int m, int n_out) {
  const int col = 2 * (threadIdx.x % 4);
#pragma unroll
  for (int i = 0; i < kCols / 8; ++i) {
    const int c = n0 + 8 * i + col;
    float o[4];
    if constexpr (kGeglu) {
      const float bv[2] = {to_f(bias[c]), to_f(bias[c + 1])};
      const float bg[2] = {to_f(bias[n_out + c]), to_f(bias[n_out + c + 1])};
      const int g = 4 * (i + kCols / 8);
#pragma unroll
      for (int e = 0; e < 4; ++e)
        o[e] = (read_after_wait(acc[4 * i + e]) + bv[e % 2]) * gelu(read_after_wait(acc[g + e]) + bg[e % 2]);
    } else {
      const float b[2] = {to_f(bias[c]), to_f(bias[c + 1])};
#pragma unroll
      for (int e = 0; e < 4; ++e) o[e] = read_after_wait(acc[4 * i + e]) + b[e % 2];
    }
    if (row < m) *reinterpret_cast<unsigned*>(out + row * n_out + c) = pack2<T>(o[0], o[1]);
    if (row + 8 < m) *reinterpret_cast<unsigned*>(out + (row + 8) * n_out + c) = pack2<T>(o[2], o[3]);
  }
}

// D (64 x N, fp32) (+)= A (64x16, K-major, shared) B (Nx16, K-major, shared).
template <typename T, int N>
__device__ __forceinline__ void wgmma(float (&d)[N / 2], std::uint64_t a, std::uint64_t b, int accumulate);
#define WMA_LAB_WGMMA(T, PTX, N, A, B, P)                                                                    \
  template <>                                                                                                \
  __device__ __forceinline__ void wgmma<T, N>(float(&d)[N / 2], std::uint64_t a, std::uint64_t b, int acc) { \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %" #P ", 0;\n"                                            \
                 "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." PTX "." PTX " " WMA_LAB_D##N              \
                 ", %" #A ", %" #B ", p, 1, 1, 0, 0;\n}\n"                                                   \
                 : WMA_LAB_D##N##_OPS                                                                        \
                 : "l"(a), "l"(b), "r"(acc));                                                                \
  }
WMA_LAB_WGMMA(__half, "f16", 128, 64, 65, 66)
WMA_LAB_WGMMA(__half, "f16", 256, 128, 129, 130)
WMA_LAB_WGMMA(__nv_bfloat16, "bf16", 128, 64, 65, 66)
WMA_LAB_WGMMA(__nv_bfloat16, "bf16", 256, 128, 129, 130)
#undef WMA_LAB_WGMMA

// The dynamic shared memory, rounded up to the 1024 bytes a 128-byte-swizzled tile starts on (smem_bytes() adds
// the slack).
__device__ __forceinline__ unsigned char* aligned_stages() {
  extern __shared__ unsigned char smem_raw[];
  return reinterpret_cast<unsigned char*>((reinterpret_cast<std::uintptr_t>(smem_raw) + 1023) &
                                          ~static_cast<std::uintptr_t>(1023));
}

// ---- versions 2-5 (and g2, g3): a CTA computes 128-row tiles of out; a tile's B operand is kRows rows of W.
constexpr int kBM = 128, kBK = 64, kThreads = 256;

template <int kRows, int kStages>
__host__ __device__ constexpr std::size_t smem_bytes() {
  return static_cast<std::size_t>(kStages) * (kBM + kRows) * kBK * 2 + 1024;  // + alignment slack
}

// kGeglu: the B tile's first half are the value rows n0.. of W, its second half the gate rows F + n0..; the tile
// writes kRows / 2 columns of out. Otherwise W rows n0.. and kRows columns of a plain linear (with bias).
// The CTA walks its tiles (blockIdx.x, + gridDim.x, ...; one when the grid covers them all) as one stream of k
// steps, so the copies of the next tile's first k steps are in flight during this tile's epilogue.
template <typename T, int kRows, int kStages, bool kGeglu, int kBlocksPerSm>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm)
    wgmma_linear_kernel(T* out, const T* x, const T* w, const T* bias, int m, int n_out, int k) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int kCols = kGeglu ? kRows / 2 : kRows;
  constexpr int kABytes = kBM * kBK * 2, kStageBytes = (kBM + kRows) * kBK * 2;
  constexpr int kAcc = kRows / 2;
  static_assert(kStages >= 3 && smem_bytes<kRows, kStages>() <= 227 * 1024, "pipeline depth within shared memory");
  unsigned char* smem = aligned_stages();
  const int n_tiles = n_out / kCols;
  const int tiles = n_tiles * ((m + kBM - 1) / kBM);
  const int my_tiles = (tiles - static_cast<int>(blockIdx.x) + static_cast<int>(gridDim.x) - 1) / gridDim.x;
  const int kt_count = k / kBK;
  const int steps = my_tiles * kt_count;
  const int t = threadIdx.x;
  // Thread t copies 16-byte chunk t % 8 of rows t / 8 + 32 i; 32 keeps row % 8, so one swizzled column for all.
  const int chunk = t % 8, row0 = t / 8;
  const int swizzled = ((chunk ^ (row0 & 7)) * 8);

  auto load = [&](int step) {
    const int tile = blockIdx.x + (step / kt_count) * gridDim.x, kt = step % kt_count;
    const std::int64_t m0 = static_cast<std::int64_t>(tile / n_tiles) * kBM;
    const int n0 = (tile % n_tiles) * kCols;
    T* sa = reinterpret_cast<T*>(smem + (step % kStages) * kStageBytes);
    T* sb = reinterpret_cast<T*>(smem + (step % kStages) * kStageBytes + kABytes);
    const int k0 = kt * kBK + chunk * 8;
#pragma unroll
    for (int i = 0; i < kBM / 32; ++i) {
      const int r = row0 + 32 * i;
      const bool valid = m0 + r < m;
      cp_async_16(sa + r * kBK + swizzled, x + (valid ? m0 + r : 0) * k + k0, valid);
    }
#pragma unroll
    for (int i = 0; i < kRows / 32; ++i) {
      const int r = row0 + 32 * i;
      const std::int64_t wr = kGeglu && r >= kCols ? n_out + n0 + r - kCols : n0 + r;
      cp_async_16(sb + r * kBK + swizzled, w + wr * k + k0, true);
    }
  };

#pragma unroll
  for (int s = 0; s < kStages - 2; ++s) {
    if (s < steps) load(s);
    cp_async_commit();
  }
  // Written by the first wgmma of each tile (its accumulate flag off), read only after the tile's last.
  float acc[kAcc];
  const int group = t / 128, warp = (t % 128) / 32, lane = t % 32;
  for (int step = 0; step < steps; ++step) {
    // Step `step` has landed; every warpgroup is past the wgmma that last read the stage refilled below (step - 2's:
    // each waited for all but its newest group before this barrier).
    cp_async_wait<kStages - 3>();
    fence_proxy_async();
    __syncthreads();
    if (step + kStages - 2 < steps) load(step + kStages - 2);
    cp_async_commit();
    const int kt = step % kt_count;
    const unsigned char* stage = smem + (step % kStages) * kStageBytes;
    const std::uint64_t da = smem_desc(stage + group * 64 * kBK * 2), db = smem_desc(stage + kABytes);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk) wgmma<T, kRows>(acc, da + 2 * kk, db + 2 * kk, kt > 0 || kk > 0);
    wgmma_commit();
    if (kt < kt_count - 1) {
      wgmma_wait<1>();
      continue;
    }
    wgmma_wait<0>();

    const int tile = blockIdx.x + (step / kt_count) * gridDim.x;
    const std::int64_t row = static_cast<std::int64_t>(tile / n_tiles) * kBM + group * 64 + warp * 16 + lane / 4;
    store_accumulators<T, kGeglu, kCols>(out, bias, acc, row, (tile % n_tiles) * kCols, m, n_out);
  }
#endif
}

// kPersistent: one CTA per SM slot walking the tiles; otherwise one CTA per tile.
template <typename T, int kRows, int kStages, bool kGeglu, int kBlocksPerSm = 1, bool kPersistent = false>
void launch_wgmma(T* out, const T* x, const T* w, const T* bias, int m, int n_out, int k) {
  constexpr int kCols = kGeglu ? kRows / 2 : kRows;
  constexpr std::size_t smem = smem_bytes<kRows, kStages>();
  static int sms = 0;
  if (sms == 0) {
    CHECK(cudaFuncSetAttribute(wgmma_linear_kernel<T, kRows, kStages, kGeglu, kBlocksPerSm>,
                               cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  }
  const int tiles = n_out / kCols * ((m + kBM - 1) / kBM);
  const int grid = kPersistent ? std::min(tiles, sms * kBlocksPerSm) : tiles;
  wgmma_linear_kernel<T, kRows, kStages, kGeglu, kBlocksPerSm><<<grid, kThreads, smem>>>(out, x, w, bias, m, n_out, k);
  CHECK(cudaGetLastError());
}

// ---- version 7: the same tiles fed by the bulk tensor copy engine. One producer warp issues the TMA copies of a
// stage (A 128x64, B 2 x 128x64, 128-byte swizzle: the layout the wgmma descriptors read) completing on the stage's
// `full` mbarrier; the two consumer warpgroups wait on it, run their wgmmas and, once a stage's wgmmas have retired,
// arrive on its `empty` mbarrier, which the producer waits on before refilling it. No block-wide barrier in the
// loop, and no copy instructions on the consumers' issue slots.
constexpr int kTmaThreads = 384;

__device__ __forceinline__ unsigned smem_u32(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void mbar_init(std::uint64_t* bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(count));
}
__device__ __forceinline__ void mbar_expect_tx(std::uint64_t* bar, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(std::uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_u32(bar)) : "memory");
}
// Returns once the phase of parity `parity` has completed (a fresh barrier counts its phase before 0, parity 1, as
// completed: the producer's first wait on an empty stage passes).
__device__ __forceinline__ void mbar_wait(std::uint64_t* bar, unsigned parity) {
  asm volatile("{\n.reg .pred done;\nwait_%=:\n"
               "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
               "@!done bra wait_%=;\n}\n" ::"r"(smem_u32(bar)),
               "r"(parity)
               : "memory");
}
__device__ __forceinline__ void tma_load_2d(void* dst, const CUtensorMap* map, int inner, int outer,
                                            std::uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(
          smem_u32(dst)),
      "l"(reinterpret_cast<std::uint64_t>(map)), "r"(inner), "r"(outer), "r"(smem_u32(bar))
      : "memory");
}

// The stages' barriers: `full` completes on the producer's arrival plus the stage's bytes, `empty` on the arrivals
// of the warpgroups that read the stage.
template <int kStages>
__device__ __forceinline__ void init_barriers(std::uint64_t* full, std::uint64_t* empty, unsigned readers) {
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbar_init(&full[s], 1);
      mbar_init(&empty[s], readers);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
}

// The producer (one thread): the CTA's tiles (blockIdx.x, + gridDim.x, ... below `tiles`) in order, as one stream
// of k steps through the ring of stages. A stage: A's 128 rows x 64, then B's two 64-column boxes of kRows / 2
// rows (GEGLU: value rows n0.., gate rows F + n0..; else rows n0.. and n0 + kRows / 2..).
template <int kStages, int kRows, bool kGeglu>
__device__ __forceinline__ void produce(unsigned char* smem, std::uint64_t* full, std::uint64_t* empty,
                                        const CUtensorMap* x_map, const CUtensorMap* w_map, int tiles, int n_tiles,
                                        int kt_count, int n_out) {
  constexpr int kCols = kGeglu ? kRows / 2 : kRows;
  constexpr int kABytes = kBM * kBK * 2, kStageBytes = (kBM + kRows) * kBK * 2, kHalfB = kRows / 2 * kBK * 2;
  int step = 0;
  for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int m0 = (tile / n_tiles) * kBM, n0 = (tile % n_tiles) * kCols;
    for (int kt = 0; kt < kt_count; ++kt, ++step) {
      const int s = step % kStages;
      mbar_wait(&empty[s], ((step / kStages) & 1) ^ 1);
      mbar_expect_tx(&full[s], kStageBytes);
      unsigned char* stage = smem + s * kStageBytes;
      tma_load_2d(stage, x_map, kt * kBK, m0, &full[s]);
      tma_load_2d(stage + kABytes, w_map, kt * kBK, n0, &full[s]);
      tma_load_2d(stage + kABytes + kHalfB, w_map, kt * kBK, kGeglu ? n_out + n0 : n0 + kRows / 2, &full[s]);
    }
  }
}

// kPersistent: one CTA per SM walks tiles blockIdx.x, + gridDim.x, ...; the producer runs on into the next tile's
// stages while the consumers are in this tile's epilogue.
template <typename T, int kStages, bool kGeglu, bool kPersistent>
__global__ void __launch_bounds__(kTmaThreads, 1)
    tma_linear_kernel(T* out, const __grid_constant__ CUtensorMap x_map, const __grid_constant__ CUtensorMap w_map,
                      const T* bias, int m, int n_out, int k) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int kRows = 256, kCols = kGeglu ? kRows / 2 : kRows, kAcc = kRows / 2;
  constexpr int kABytes = kBM * kBK * 2, kStageBytes = (kBM + kRows) * kBK * 2;
  unsigned char* smem = aligned_stages();
  auto* full = reinterpret_cast<std::uint64_t*>(smem + kStages * kStageBytes);
  std::uint64_t* empty = full + kStages;
  const int t = threadIdx.x;
  init_barriers<kStages>(full, empty, 2);
  const int n_tiles = n_out / kCols;
  const int tiles = kPersistent ? n_tiles * ((m + kBM - 1) / kBM) : static_cast<int>(blockIdx.x) + 1;
  const int kt_count = k / kBK;

  if (t < 128) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
    if (t == 0) produce<kStages, kRows, kGeglu>(smem, full, empty, &x_map, &w_map, tiles, n_tiles, kt_count, n_out);
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
    const int group = (t - 128) / 128, warp = (t % 128) / 32, lane = t % 32;
    const bool leader = t % 128 == 0;
    float acc[kAcc];
    int step = 0;
    for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
      for (int kt = 0; kt < kt_count; ++kt, ++step) {
        const int s = step % kStages;
        mbar_wait(&full[s], (step / kStages) & 1);
        const unsigned char* stage = smem + s * kStageBytes;
        const std::uint64_t da = smem_desc(stage + group * 64 * kBK * 2), db = smem_desc(stage + kABytes);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < kBK / 16; ++kk) wgmma<T, kRows>(acc, da + 2 * kk, db + 2 * kk, kt > 0 || kk > 0);
        wgmma_commit();
        wgmma_wait<1>();
        // The previous step's wgmmas (of this tile) have retired: its stage may be refilled.
        if (kt > 0 && leader) mbar_arrive(&empty[(step - 1) % kStages]);
      }
      wgmma_wait<0>();
      if (leader) mbar_arrive(&empty[(step - 1) % kStages]);
      const std::int64_t row = (tile / n_tiles) * static_cast<std::int64_t>(kBM) + group * 64 + warp * 16 + lane / 4;
      store_accumulators<T, kGeglu, kCols>(out, bias, acc, row, (tile % n_tiles) * kCols, m, n_out);
    }
  }
#endif
}

// Version 9: ping-pong. Each consumer warpgroup owns whole 128-row tiles (two m64n128 wgmmas per k16, B = 64
// value + 64 gate rows, or 128 rows of a plain linear), the CTA's tiles going to the two in turn, so one's epilogue
// runs under the other's MMAs. The producer fills one ring of stages in tile order; a stage has one consumer.
template <typename T, int kStages, bool kGeglu>
__global__ void __launch_bounds__(kTmaThreads, 1)
    pingpong_linear_kernel(T* out, const __grid_constant__ CUtensorMap x_map, const __grid_constant__ CUtensorMap w_map,
                           const T* bias, int m, int n_out, int k) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int kRows = 128, kCols = kGeglu ? kRows / 2 : kRows, kAcc = kRows / 2;
  constexpr int kABytes = kBM * kBK * 2, kStageBytes = (kBM + kRows) * kBK * 2;
  static_assert(kStages * kStageBytes + 1024 + 2 * kStages * 8 <= 227 * 1024, "stages within shared memory");
  unsigned char* smem = aligned_stages();
  auto* full = reinterpret_cast<std::uint64_t*>(smem + kStages * kStageBytes);
  std::uint64_t* empty = full + kStages;
  const int t = threadIdx.x;
  init_barriers<kStages>(full, empty, 1);
  const int n_tiles = n_out / kCols;
  const int tiles = n_tiles * ((m + kBM - 1) / kBM);
  const int kt_count = k / kBK;

  if (t < 128) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
    if (t == 0) produce<kStages, kRows, kGeglu>(smem, full, empty, &x_map, &w_map, tiles, n_tiles, kt_count, n_out);
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
    const int group = (t - 128) / 128, warp = (t % 128) / 32, lane = t % 32;
    const bool leader = t % 128 == 0;
    float acc0[kAcc], acc1[kAcc];
    for (int i = group;; i += 2) {
      const int tile = blockIdx.x + i * gridDim.x;
      if (tile >= tiles) break;
      const int base = i * kt_count;
      for (int kt = 0; kt < kt_count; ++kt) {
        const int step = base + kt, s = step % kStages;
        mbar_wait(&full[s], (step / kStages) & 1);
        const unsigned char* stage = smem + s * kStageBytes;
        const std::uint64_t da = smem_desc(stage), db = smem_desc(stage + kABytes);
        constexpr unsigned kHalfA = 64 * kBK * 2 >> 4;  // descriptor units
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < kBK / 16; ++kk) {
          wgmma<T, kRows>(acc0, da + 2 * kk, db + 2 * kk, kt > 0 || kk > 0);
          wgmma<T, kRows>(acc1, da + kHalfA + 2 * kk, db + 2 * kk, kt > 0 || kk > 0);
        }
        wgmma_commit();
        wgmma_wait<1>();
        if (kt > 0 && leader) mbar_arrive(&empty[(step - 1) % kStages]);
      }
      wgmma_wait<0>();
      if (leader) mbar_arrive(&empty[(base + kt_count - 1) % kStages]);
      const std::int64_t row = (tile / n_tiles) * static_cast<std::int64_t>(kBM) + warp * 16 + lane / 4;
      store_accumulators<T, kGeglu, kCols>(out, bias, acc0, row, (tile % n_tiles) * kCols, m, n_out);
      store_accumulators<T, kGeglu, kCols>(out, bias, acc1, row + 64, (tile % n_tiles) * kCols, m, n_out);
    }
  }
#endif
}

template <typename T, int kStages, bool kGeglu>
void launch_pingpong(T* out, const CUtensorMap& x_map, const CUtensorMap& w_map, const T* bias, int m, int n_out,
                     int k) {
  constexpr int kCols = kGeglu ? 64 : 128;
  constexpr std::size_t smem = smem_bytes<128, kStages>() + 2 * kStages * sizeof(std::uint64_t);
  static int sms = 0;
  if (sms == 0) {
    CHECK(cudaFuncSetAttribute(pingpong_linear_kernel<T, kStages, kGeglu>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               static_cast<int>(smem)));
    CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  }
  const int tiles = n_out / kCols * ((m + kBM - 1) / kBM);
  pingpong_linear_kernel<T, kStages, kGeglu>
      <<<std::min(tiles, sms), kTmaThreads, smem>>>(out, x_map, w_map, bias, m, n_out, k);
  CHECK(cudaGetLastError());
}

// Version 10: version 8 in clusters of two CTAs on vertically adjacent tiles (the same W rows): each CTA's
// producer loads its own A and one half of the shared B tile, multicast into both CTAs' stages, so the pair reads
// B from L2 once. A stage's `full` barrier expects all 48 KB (its A, both halves); its `empty` barrier collects the
// releases of both CTAs' consumers (4 arrivals), since each producer writes into the peer's stage too.
__device__ __forceinline__ unsigned cluster_rank() {
  unsigned r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
}
__device__ __forceinline__ void cluster_sync() {
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n" ::: "memory");
}
// Arrives on the barrier at `bar`'s offset in CTA `rank` of the cluster.
__device__ __forceinline__ void mbar_arrive_cluster(std::uint64_t* bar, unsigned rank) {
  unsigned remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(smem_u32(bar)), "r"(rank));
  asm volatile("mbarrier.arrive.release.cluster.shared::cluster.b64 _, [%0];\n" ::"r"(remote) : "memory");
}
__device__ __forceinline__ void tma_load_2d_multicast(void* dst, const CUtensorMap* map, int inner, int outer,
                                                      std::uint64_t* bar, std::uint16_t mask) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster [%0], [%1, {%2, "
      "%3}], [%4], %5;\n" ::"r"(smem_u32(dst)),
      "l"(reinterpret_cast<std::uint64_t>(map)), "r"(inner), "r"(outer), "r"(smem_u32(bar)), "h"(mask)
      : "memory");
}

template <typename T, int kStages, bool kGeglu>
__global__ void __launch_bounds__(kTmaThreads, 1)
    cluster_linear_kernel(T* out, const __grid_constant__ CUtensorMap x_map, const __grid_constant__ CUtensorMap w_map,
                          const T* bias, int m, int n_out, int k) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int kRows = 256, kCols = kGeglu ? kRows / 2 : kRows, kAcc = kRows / 2;
  constexpr int kABytes = kBM * kBK * 2, kStageBytes = (kBM + kRows) * kBK * 2, kHalfB = kRows / 2 * kBK * 2;
  unsigned char* smem = aligned_stages();
  auto* full = reinterpret_cast<std::uint64_t*>(smem + kStages * kStageBytes);
  std::uint64_t* empty = full + kStages;
  const int t = threadIdx.x;
  const unsigned rank = cluster_rank(), peer = rank ^ 1;
  init_barriers<kStages>(full, empty, 4);
  cluster_sync();  // the peer's barriers exist before anything reaches them
  const int n_tiles = n_out / kCols;
  const int pairs = n_tiles * ((m + 2 * kBM - 1) / (2 * kBM));
  const int cluster = blockIdx.x / 2, clusters = gridDim.x / 2;
  const int kt_count = k / kBK;

  if (t < 128) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
    if (t == 0) {
      int step = 0;
      for (int pair = cluster; pair < pairs; pair += clusters) {
        const int m0 = ((pair / n_tiles) * 2 + static_cast<int>(rank)) * kBM, n0 = (pair % n_tiles) * kCols;
        for (int kt = 0; kt < kt_count; ++kt, ++step) {
          const int s = step % kStages;
          mbar_wait(&empty[s], ((step / kStages) & 1) ^ 1);
          mbar_expect_tx(&full[s], kStageBytes);
          unsigned char* stage = smem + s * kStageBytes;
          tma_load_2d(stage, &x_map, kt * kBK, m0, &full[s]);
          const int b_row = rank == 0 ? n0 : (kGeglu ? n_out + n0 : n0 + kRows / 2);
          tma_load_2d_multicast(stage + kABytes + rank * kHalfB, &w_map, kt * kBK, b_row, &full[s], 0x3);
        }
      }
    }
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
    const int group = (t - 128) / 128, warp = (t % 128) / 32, lane = t % 32;
    const bool leader = t % 128 == 0;
    auto release = [&](int s) {
      if (!leader) return;
      mbar_arrive(&empty[s]);
      mbar_arrive_cluster(&empty[s], peer);
    };
    float acc[kAcc];
    int step = 0;
    for (int pair = cluster; pair < pairs; pair += clusters) {
      for (int kt = 0; kt < kt_count; ++kt, ++step) {
        const int s = step % kStages;
        mbar_wait(&full[s], (step / kStages) & 1);
        const unsigned char* stage = smem + s * kStageBytes;
        const std::uint64_t da = smem_desc(stage + group * 64 * kBK * 2), db = smem_desc(stage + kABytes);
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < kBK / 16; ++kk) wgmma<T, kRows>(acc, da + 2 * kk, db + 2 * kk, kt > 0 || kk > 0);
        wgmma_commit();
        wgmma_wait<1>();
        if (kt > 0) release((step - 1) % kStages);
      }
      wgmma_wait<0>();
      release((step - 1) % kStages);
      const int m_tile = (pair / n_tiles) * 2 + static_cast<int>(rank);
      const std::int64_t row = static_cast<std::int64_t>(m_tile) * kBM + group * 64 + warp * 16 + lane / 4;
      store_accumulators<T, kGeglu, kCols>(out, bias, acc, row, (pair % n_tiles) * kCols, m, n_out);
    }
  }
  cluster_sync();  // no CTA leaves while its peer may still arrive on its barriers
#endif
}

template <typename T, int kStages, bool kGeglu>
void launch_cluster(T* out, const CUtensorMap& x_map, const CUtensorMap& w_map, const T* bias, int m, int n_out,
                    int k) {
  constexpr int kCols = kGeglu ? 128 : 256;
  constexpr std::size_t smem = smem_bytes<256, kStages>() + 2 * kStages * sizeof(std::uint64_t);
  static int sms = 0;
  if (sms == 0) {
    CHECK(cudaFuncSetAttribute(cluster_linear_kernel<T, kStages, kGeglu>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               static_cast<int>(smem)));
    CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  }
  const int pairs = n_out / kCols * ((m + 2 * kBM - 1) / (2 * kBM));
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(2 * std::min(pairs, sms / 2));
  config.blockDim = dim3(kTmaThreads);
  config.dynamicSmemBytes = smem;
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeClusterDimension;
  attribute.val.clusterDim.x = 2;
  attribute.val.clusterDim.y = 1;
  attribute.val.clusterDim.z = 1;
  config.attrs = &attribute;
  config.numAttrs = 1;
  CHECK(cudaLaunchKernelEx(&config, cluster_linear_kernel<T, kStages, kGeglu>, out, x_map, w_map, bias, m, n_out, k));
}

// A [rows, k] row-major 16-bit matrix as 64 x box_rows tiles with the 128-byte swizzle.
template <typename T>
CUtensorMap tensor_map(const T* base, int rows, int k, int box_rows) {
  static PFN_cuTensorMapEncodeTiled_v12000 encode = nullptr;
  if (encode == nullptr) {
    cudaDriverEntryPointQueryResult q{};
    CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", reinterpret_cast<void**>(&encode), 12000,
                                           cudaEnableDefault, &q));
    if (q != cudaDriverEntryPointSuccess || encode == nullptr) {
      std::fprintf(stderr, "cuTensorMapEncodeTiled is not available\n");
      std::exit(1);
    }
  }
  CUtensorMap map{};
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(k), static_cast<cuuint64_t>(rows)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(k) * sizeof(T)};
  const cuuint32_t box[2] = {static_cast<cuuint32_t>(kBK), static_cast<cuuint32_t>(box_rows)};
  const cuuint32_t element_strides[2] = {1, 1};
  const CUresult r =
      encode(&map, std::is_same_v<T, __half> ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2,
             const_cast<T*>(base), dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
             CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) {
    std::fprintf(stderr, "cuTensorMapEncodeTiled failed (%d)\n", static_cast<int>(r));
    std::exit(1);
  }
  return map;
}

template <typename T, int kStages, bool kGeglu, bool kPersistent = false>
void launch_tma(T* out, const CUtensorMap& x_map, const CUtensorMap& w_map, const T* bias, int m, int n_out, int k) {
  constexpr int kCols = kGeglu ? 128 : 256;
  constexpr std::size_t smem = smem_bytes<256, kStages>() + 2 * kStages * sizeof(std::uint64_t);
  static int sms = 0;
  if (sms == 0) {
    CHECK(cudaFuncSetAttribute(tma_linear_kernel<T, kStages, kGeglu, kPersistent>,
                               cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  }
  const int tiles = n_out / kCols * ((m + kBM - 1) / kBM);
  const int grid = kPersistent ? std::min(tiles, sms) : tiles;
  tma_linear_kernel<T, kStages, kGeglu, kPersistent><<<grid, kTmaThreads, smem>>>(out, x_map, w_map, bias, m, n_out, k);
  CHECK(cudaGetLastError());
}

// ---- cuBLASLt: row-major out [m, n] = x [m, k] W[n, k]^T + bias, as the column-major W^T-first product.
struct LtGemm {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  std::size_t workspace_bytes = 64u << 20;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  cublasLtMatmulAlgo_t algo{};
  const void* bias = nullptr;

  template <typename T>
  void plan(const T* x, const T* w, const T* b, T* out, int m, int n, int k) {
    const cudaDataType_t dt = std::is_same_v<T, __half> ? CUDA_R_16F : CUDA_R_16BF;
    if (handle == nullptr) {
      CHECK_LT(cublasLtCreate(&handle));
      CHECK(cudaMalloc(&workspace, workspace_bytes));
    }
    release();
    CHECK_LT(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    bias = b;
    CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
    const cudaDataType_t bias_type = dt;
    CHECK_LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof bias_type));
    CHECK_LT(cublasLtMatrixLayoutCreate(&la, dt, k, n, k));
    CHECK_LT(cublasLtMatrixLayoutCreate(&lb, dt, k, m, k));
    CHECK_LT(cublasLtMatrixLayoutCreate(&lc, dt, n, m, n));
    cublasLtMatmulPreference_t pref;
    CHECK_LT(cublasLtMatmulPreferenceCreate(&pref));
    CHECK_LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes,
                                                  sizeof workspace_bytes));
    cublasLtMatmulHeuristicResult_t results[8];
    int found = 0;
    CHECK_LT(cublasLtMatmulAlgoGetHeuristic(handle, op, la, lb, lc, lc, pref, 8, results, &found));
    cublasLtMatmulPreferenceDestroy(pref);
    if (found == 0) {
      std::fprintf(stderr, "cuBLASLt found no algorithm for %d x %d x %d\n", m, n, k);
      std::exit(1);
    }
    // The fastest of the candidates (the engine's linear.cu tunes the same way).
    cudaEvent_t e0, e1;
    CHECK(cudaEventCreate(&e0));
    CHECK(cudaEventCreate(&e1));
    float best = 1e30f;
    for (int i = 0; i < found; ++i) {
      algo = results[i].algo;
      run(x, w, out);
      CHECK(cudaEventRecord(e0));
      for (int r = 0; r < 5; ++r) run(x, w, out);
      CHECK(cudaEventRecord(e1));
      CHECK(cudaEventSynchronize(e1));
      float ms = 0;
      CHECK(cudaEventElapsedTime(&ms, e0, e1));
      if (ms < best) best = ms, results[0].algo = results[i].algo;
    }
    algo = results[0].algo;
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
  }
  template <typename T>
  void run(const T* x, const T* w, T* out) {
    const float one = 1.0f, zero = 0.0f;
    CHECK_LT(cublasLtMatmul(handle, op, &one, w, la, x, lb, &zero, out, lc, out, lc, &algo, workspace, workspace_bytes,
                            nullptr));
  }
  void release() {
    if (op) cublasLtMatmulDescDestroy(op);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (lc) cublasLtMatrixLayoutDestroy(lc);
    op = nullptr, la = lb = lc = nullptr;
  }
};

// ---- host side.
template <typename T>
float host_f(T v) {
  if constexpr (std::is_same_v<T, __half>) return __half2float(v);
  else return __bfloat162float(v);
}
template <typename T>
T host_t(float v) {
  if constexpr (std::is_same_v<T, __half>) return __float2half(v);
  else return __float2bfloat16(v);
}

struct Shape {
  const char* name;
  int m, k, f;
  bool timed;
};

struct Row {
  std::string shape, version, dtype;
  double ms = 0, tflops = 0, gbs = 0, err = 0;
  bool ok = true;
};

template <typename T>
struct Buffers {
  T *x = nullptr, *w = nullptr, *b = nullptr, *h = nullptr, *out = nullptr;
  std::vector<T> hx, hw, hb;
};

float median_ms(const std::function<void()>& f, void* flush, std::size_t flush_bytes, int reps) {
  for (int i = 0; i < 3; ++i) f();
  cudaEvent_t e0, e1;
  CHECK(cudaEventCreate(&e0));
  CHECK(cudaEventCreate(&e1));
  std::vector<float> t;
  for (int r = 0; r < reps; ++r) {
    CHECK(cudaMemsetAsync(flush, r & 0xff, flush_bytes));
    CHECK(cudaEventRecord(e0));
    f();
    CHECK(cudaEventRecord(e1));
    CHECK(cudaEventSynchronize(e1));
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, e0, e1));
    t.push_back(ms);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// The double reference of sampled rows (all 2F projection columns), from the same 16-bit inputs.
template <typename T>
struct Reference {
  std::vector<int> rows;
  std::vector<double> h;  // [rows, 2F]
};

template <typename T>
Reference<T> reference(const Buffers<T>& b, const Shape& s) {
  Reference<T> ref;
  const int samples = std::min(s.m, 192);
  for (int i = 0; i < samples; ++i)
    ref.rows.push_back(static_cast<int>(static_cast<std::int64_t>(i) * (s.m - 1) / std::max(samples - 1, 1)));
  ref.h.resize(ref.rows.size() * 2 * s.f);
  for (std::size_t i = 0; i < ref.rows.size(); ++i) {
    const T* xr = &b.hx[static_cast<std::size_t>(ref.rows[i]) * s.k];
    for (int j = 0; j < 2 * s.f; ++j) {
      const T* wr = &b.hw[static_cast<std::size_t>(j) * s.k];
      double acc = host_f(b.hb[j]);
      for (int q = 0; q < s.k; ++q) acc += static_cast<double>(host_f(xr[q])) * host_f(wr[q]);
      ref.h[i * 2 * s.f + j] = acc;
    }
  }
  return ref;
}

// ||out - ref|| / ||ref|| over the reference's rows; NaN (an unwritten, poisoned element) anywhere in out fails.
template <typename T>
double check(const Reference<T>& ref, const Shape& s, bool geglu, const T* dev_out) {
  const int n_out = geglu ? s.f : 2 * s.f;
  std::vector<T> out(static_cast<std::size_t>(s.m) * n_out);
  CHECK(cudaMemcpy(out.data(), dev_out, out.size() * sizeof(T), cudaMemcpyDeviceToHost));
  for (const T& v : out)
    if (!std::isfinite(host_f(v))) return INFINITY;
  double num = 0, den = 0;
  for (std::size_t i = 0; i < ref.rows.size(); ++i) {
    const double* h = &ref.h[i * 2 * s.f];
    for (int j = 0; j < n_out; ++j) {
      const double want = geglu ? h[j] * 0.5 * h[s.f + j] * (1.0 + std::erf(h[s.f + j] / std::sqrt(2.0))) : h[j];
      const double d = host_f(out[static_cast<std::size_t>(ref.rows[i]) * n_out + j]) - want;
      num += d * d;
      den += want * want;
    }
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

// --versions: the versions to run, by the number or name before the first space (all when empty).
std::vector<std::string> g_selected;

bool selected(const std::string& version) {
  if (g_selected.empty()) return true;
  const std::string id = version.substr(0, version.find(' '));
  return std::find(g_selected.begin(), g_selected.end(), id) != g_selected.end();
}

template <typename T>
void run_shape(const Shape& s, std::vector<Row>& rows, void* flush, std::size_t flush_bytes, LtGemm& lt) {
  const char* dtype = std::is_same_v<T, __half> ? "f16" : "bf16";
  const double tol = std::is_same_v<T, __half> ? 2e-3 : 1e-2;
  Buffers<T> b;
  std::mt19937 rng(1234 + s.m + s.k + s.f);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  b.hx.resize(static_cast<std::size_t>(s.m) * s.k);
  b.hw.resize(static_cast<std::size_t>(2 * s.f) * s.k);
  b.hb.resize(2 * s.f);
  const float ws = 1.0f / std::sqrt(static_cast<float>(s.k));
  for (auto& v : b.hx) v = host_t<T>(u(rng));
  for (auto& v : b.hw) v = host_t<T>(u(rng) * ws);
  for (auto& v : b.hb) v = host_t<T>(0.5f * u(rng));
  const std::size_t nh = static_cast<std::size_t>(s.m) * 2 * s.f, no = static_cast<std::size_t>(s.m) * s.f;
  CHECK(cudaMalloc(&b.x, b.hx.size() * sizeof(T)));
  CHECK(cudaMalloc(&b.w, b.hw.size() * sizeof(T)));
  CHECK(cudaMalloc(&b.b, b.hb.size() * sizeof(T)));
  CHECK(cudaMalloc(&b.h, nh * sizeof(T)));
  CHECK(cudaMalloc(&b.out, no * sizeof(T)));
  CHECK(cudaMemcpy(b.x, b.hx.data(), b.hx.size() * sizeof(T), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(b.w, b.hw.data(), b.hw.size() * sizeof(T), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(b.b, b.hb.data(), b.hb.size() * sizeof(T), cudaMemcpyHostToDevice));
  lt.plan(b.x, b.w, b.b, b.h, s.m, 2 * s.f, s.k);
  const Reference<T> ref = reference(b, s);

  const double flops = 2.0 * s.m * 2.0 * s.f * s.k;
  const double in_bytes = (static_cast<double>(s.m) * s.k + 2.0 * s.f * s.k) * sizeof(T);
  struct Version {
    const char* name;
    bool geglu;
    std::function<void()> fn;
  };
  const int m = s.m, k = s.k, f = s.f;
  const bool fits = k >= kBK && k % kBK == 0 && f % 128 == 0;
  const CUtensorMap x_map = tensor_map(b.x, m, k, kBM), w_map = tensor_map(b.w, 2 * f, k, 128);
  std::vector<Version> versions;
  versions.push_back(
      {"1 cublasLt+geglu", true, [&] {
         lt.run(b.x, b.w, b.h);
         const std::int64_t n8 = static_cast<std::int64_t>(m) * f / 8;
         geglu_kernel<T>
             <<<static_cast<unsigned>(std::min<std::int64_t>((n8 + 255) / 256, 132 * 16)), 256>>>(b.out, b.h, m, f);
       }});
  if (fits) {
    versions.push_back(
        {"2 wgmma n256 s4", true, [&] { launch_wgmma<T, 256, 4, true>(b.out, b.x, b.w, b.b, m, f, k); }});
    versions.push_back(
        {"3 wgmma n128 s6", true, [&] { launch_wgmma<T, 128, 6, true>(b.out, b.x, b.w, b.b, m, f, k); }});
    versions.push_back(
        {"4 wgmma n128 s3 x2", true, [&] { launch_wgmma<T, 128, 3, true, 2>(b.out, b.x, b.w, b.b, m, f, k); }});
    versions.push_back(
        {"5 wgmma n256 s4 p", true, [&] { launch_wgmma<T, 256, 4, true, 1, true>(b.out, b.x, b.w, b.b, m, f, k); }});
    versions.push_back(
        {"6 wgmma n128 s3 x2 p", true, [&] { launch_wgmma<T, 128, 3, true, 2, true>(b.out, b.x, b.w, b.b, m, f, k); }});
    versions.push_back({"7 tma n256 s4", true, [&] { launch_tma<T, 4, true>(b.out, x_map, w_map, b.b, m, f, k); }});
    versions.push_back(
        {"8 tma n256 s4 p", true, [&] { launch_tma<T, 4, true, true>(b.out, x_map, w_map, b.b, m, f, k); }});
    versions.push_back(
        {"9 pingpong n128 s6", true, [&] { launch_pingpong<T, 6, true>(b.out, x_map, w_map, b.b, m, f, k); }});
    versions.push_back(
        {"10 cluster2 multicast", true, [&] { launch_cluster<T, 4, true>(b.out, x_map, w_map, b.b, m, f, k); }});
  }
  versions.push_back({"g1 cublasLt gemm", false, [&] { lt.run(b.x, b.w, b.h); }});
  if (fits)
    versions.push_back(
        {"g2 wgmma gemm n256", false, [&] { launch_wgmma<T, 256, 4, false>(b.h, b.x, b.w, b.b, m, 2 * f, k); }});
  if (fits) {
    versions.push_back(
        {"g3 wgmma gemm n128 x2", false, [&] { launch_wgmma<T, 128, 3, false, 2>(b.h, b.x, b.w, b.b, m, 2 * f, k); }});
    versions.push_back({"g4 wgmma gemm n256 p", false,
                        [&] { launch_wgmma<T, 256, 4, false, 1, true>(b.h, b.x, b.w, b.b, m, 2 * f, k); }});
    versions.push_back(
        {"g5 tma gemm n256", false, [&] { launch_tma<T, 4, false>(b.h, x_map, w_map, b.b, m, 2 * f, k); }});
    versions.push_back(
        {"g6 tma gemm n256 p", false, [&] { launch_tma<T, 4, false, true>(b.h, x_map, w_map, b.b, m, 2 * f, k); }});
    versions.push_back(
        {"g7 pingpong gemm", false, [&] { launch_pingpong<T, 6, false>(b.h, x_map, w_map, b.b, m, 2 * f, k); }});
    versions.push_back(
        {"g8 cluster2 gemm", false, [&] { launch_cluster<T, 4, false>(b.h, x_map, w_map, b.b, m, 2 * f, k); }});
  }

  for (auto& v : versions) {
    if (!selected(v.name)) continue;
    T* dst = v.geglu ? b.out : b.h;
    CHECK(cudaMemset(dst, 0xff, (v.geglu ? no : nh) * sizeof(T)));  // NaN in f16 and bf16
    v.fn();
    CHECK(cudaDeviceSynchronize());
    Row r{s.name, v.name, dtype};
    r.err = check(ref, s, v.geglu, dst);
    r.ok = r.err <= tol;
    if (s.timed) {
      r.ms = median_ms(v.fn, flush, flush_bytes, 20);
      r.tflops = flops / (r.ms * 1e-3) / 1e12;
      r.gbs = (in_bytes + (v.geglu ? no : nh) * sizeof(T)) / (r.ms * 1e-3) / 1e9;
    }
    rows.push_back(r);
  }
  cudaFree(b.x);
  cudaFree(b.w);
  cudaFree(b.b);
  cudaFree(b.h);
  cudaFree(b.out);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strncmp(argv[i], "--versions=", 11) == 0) {
      std::string list = argv[i] + 11;
      for (std::size_t at = 0; at <= list.size();) {
        const std::size_t comma = std::min(list.find(',', at), list.size());
        g_selected.push_back(list.substr(at, comma - at));
        at = comma + 1;
      }
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--versions=1,7,g1,...]\n", argv[0]);
      return 2;
    }
  }
  cudaDeviceProp prop{};
  CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("%s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
  const std::size_t flush_bytes = 256u << 20;
  void* flush = nullptr;
  CHECK(cudaMalloc(&flush, flush_bytes));
  LtGemm lt;
  std::vector<Row> rows;
  // The UNet's feed-forwards (C -> 8C, spatial and temporal transformers at L0-L2; the init_attn one), then awkward
  // sizes: row counts that are no multiple of the tile, the smallest widths.
  const std::vector<Shape> shapes = {
      {"L0 40960x320->2x1280", 40960, 320, 1280, true}, {"L1 10240x640->2x2560", 10240, 640, 2560, true},
      {"L2 2560x1280->2x5120", 2560, 1280, 5120, true}, {"init 40960x512->2x2048", 40960, 512, 2048, true},
      {"odd 1000x320->2x1280", 1000, 320, 1280, false}, {"odd 77x640->2x256", 77, 640, 256, false},
      {"odd 129x64->2x128", 129, 64, 128, false},
  };
  for (const Shape& s : shapes) {
    if (quick && s.timed && s.m != 40960) continue;
    run_shape<__half>(s, rows, flush, flush_bytes, lt);
    if (!s.timed || s.m == 2560)
      run_shape<__nv_bfloat16>(Shape{s.name, s.m, s.k, s.f, false}, rows, flush, flush_bytes, lt);
  }
  bool all_ok = true;
  std::printf("\n%-24s %-20s %-5s %9s %8s %8s %10s  %s\n", "shape", "version", "dtype", "ms", "TFLOP/s", "GB/s",
              "rel err", "check");
  for (const Row& r : rows) {
    all_ok = all_ok && r.ok;
    if (r.ms > 0)
      std::printf("%-24s %-20s %-5s %9.4f %8.1f %8.0f %10.2e  %s\n", r.shape.c_str(), r.version.c_str(),
                  r.dtype.c_str(), r.ms, r.tflops, r.gbs, r.err, r.ok ? "ok" : "FAIL");
    else
      std::printf("%-24s %-20s %-5s %9s %8s %8s %10.2e  %s\n", r.shape.c_str(), r.version.c_str(), r.dtype.c_str(), "-",
                  "-", "-", r.err, r.ok ? "ok" : "FAIL");
  }
  return all_ok ? 0 : 1;
}
