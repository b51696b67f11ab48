// Warp-level tensor-core building blocks shared by the attention kernels (sm_80+): 16-byte cp.async
// with zero fill, ldmatrix, mma.sync m16n8k16 with fp32 accumulators, and packing fp32 pairs to 16-bit.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace wma::cuda::mma {

__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int bytes = valid ? 16 : 0;  // 0 bytes read: the 16 are zero-filled
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Rows [row0, row0 + kTileRows) of a [len, 64] slice of 16-bit elements (row stride `ld`) into a tile of
// 128-byte rows whose 16-byte chunk c of row r sits at chunk c ^ (r % 8): the 8 rows an ldmatrix reads hit 8
// different bank groups, and it is the layout of wgmma's 128-byte swizzle. Rows past `len` become zeros, so
// padding keys contribute exact zeros to PV. Thread i copies chunk i % 8 of rows i / 8 + (kThreads / 8) k: the
// swizzled column is the same for all its rows (the row step keeps row % 8), so after one base address the copies
// are adds only. Address arithmetic per chunk, with its divisions and 64-bit products, was a quarter of the flash
// kernel's instructions (ncu, docs/performance.md).
template <int kThreads, int kTileRows, typename T>
__device__ __forceinline__ void load_swizzled_rows(T* tile, const T* src, std::int64_t ld, std::int64_t row0,
                                                   std::int64_t len) {
  constexpr int kHeadDim = 64, kChunks = kHeadDim / 8;
  constexpr unsigned kRowsPerPass = kThreads / kChunks;
  static_assert(kTileRows % kRowsPerPass == 0 && kRowsPerPass % 8 == 0, "whole passes, swizzle column fixed");
  const unsigned r0 = threadIdx.x / kChunks, c = threadIdx.x % kChunks;
  const T* g = src + (row0 + r0) * ld + c * 8;
  T* s = tile + r0 * kHeadDim + ((c ^ (r0 & 7)) << 3);
  const std::int64_t pass_stride = kRowsPerPass * ld;
  const bool whole = row0 + kTileRows <= len;
#pragma unroll
  for (unsigned k = 0; k < kTileRows / kRowsPerPass; ++k) {
    const bool valid = whole || row0 + r0 + k * kRowsPerPass < len;
    cp_async_16(s + k * kRowsPerPass * kHeadDim, valid ? g + k * pass_stride : src, valid);
  }
}

__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const void* smem) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned (&r)[4], const void* smem) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}

template <typename T>
__device__ __forceinline__ void mma_16816(float (&c)[4], const unsigned (&a)[4], unsigned b0, unsigned b1);
template <>
__device__ __forceinline__ void mma_16816<__half>(float (&c)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
               "{%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma_16816<__nv_bfloat16>(float (&c)[4], const unsigned (&a)[4], unsigned b0,
                                                         unsigned b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
               "{%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// 2^x by the special-function unit alone. exp2f adds range checks and rescaling for denormal results (three
// more instructions per score in the softmax); flushing those results to zero changes nothing here, since
// every softmax row holds a term of 1.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

template <typename T>
__device__ __forceinline__ unsigned pack2(float lo, float hi);
template <>
__device__ __forceinline__ unsigned pack2<__half>(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const unsigned*>(&h);
}
template <>
__device__ __forceinline__ unsigned pack2<__nv_bfloat16>(float lo, float hi) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const unsigned*>(&h);
}

// The max and the sum over the four lanes of a quad, which share a row of an mma accumulator fragment.
__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// Element offset of 16-byte chunk `chunk` of row `row` in a [rows][64] tile of 16-bit elements stored with chunk
// c of row r at chunk c ^ (r % 8): the eight rows one ldmatrix phase reads (and the eight rows output fragments
// write) then fall in eight different bank groups instead of one.
__device__ __forceinline__ int swizzle64(int row, int chunk) { return row * 64 + ((chunk ^ (row & 7)) << 3); }

// o += P V for 16-key step `ks` of one warp's 16 query rows over 64 value columns. The S accumulators of two
// adjacent 8-key column blocks (s0, s1) are exactly the A fragment of the step; V is a swizzle64 [keys][64] tile.
template <typename T>
__device__ __forceinline__ void accumulate_pv(float (&o)[8][4], const float (&s0)[4], const float (&s1)[4], const T* sv,
                                              int ks, int lane) {
  const unsigned pa[4] = {pack2<T>(s0[0], s0[1]), pack2<T>(s0[2], s0[3]), pack2<T>(s1[0], s1[1]),
                          pack2<T>(s1[2], s1[3])};
#pragma unroll
  for (int dt = 0; dt < 8; dt += 2) {
    unsigned vf[4];
    ldmatrix_x4_trans(vf, sv + swizzle64(ks * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, dt + (lane >> 4)));
    mma_16816<T>(o[dt], pa, vf[0], vf[1]);
    mma_16816<T>(o[dt + 1], pa, vf[2], vf[3]);
  }
}

}  // namespace wma::cuda::mma
