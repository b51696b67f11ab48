// Attention: f16/bf16 with head dim 64 goes to the flash kernel on tensor cores; the general
// kernel here takes every other case (fp32, other head dims): one warp per query row, blocks
// of 8 queries of one (batch, head) sharing 32-key tiles of K and V staged in shared memory,
// online softmax in fp32. Strided q/k/v/out (last dim contiguous), optional additive mask.
#include "backends/cuda/common.cuh"
#include "backends/cuda/flash_attention.h"

namespace wma::cuda {
namespace {

constexpr int kQueriesPerBlock = 8;  // one warp each
constexpr int kKeysPerTile = 32;     // one key per lane when scoring
constexpr int kMaxDvPerLane = 8;
constexpr int kMaxHeadDim = 32 * kMaxDvPerLane;  // a warp per query row
static_assert(kKeysPerTile == 32, "scores and their broadcast to the PV loop are one per lane");

struct AttnArgs {
  std::int64_t lq, lk;
  int heads, d, dv;
  std::int64_t q_sb, q_sl, q_sh;
  std::int64_t k_sb, k_sl, k_sh;
  std::int64_t v_sb, v_sl, v_sh;
  std::int64_t o_sb, o_sl, o_sh;
  const void* mask;
  DType mask_dtype;
  std::int64_t m_sb, m_sq, m_sk;
  float scale;
};

template <typename T>
__global__ void attention_kernel(T* out, const T* q, const T* k, const T* v, AttnArgs a) {
  extern __shared__ float smem[];
  float* qs = smem;                           // [queries][d]
  float* ks = qs + kQueriesPerBlock * a.d;    // [keys][d + 1], padded against bank conflicts
  float* vs = ks + kKeysPerTile * (a.d + 1);  // [keys][dv]
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int h = blockIdx.y;
  const std::int64_t b = blockIdx.z;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kQueriesPerBlock + warp;
  const bool active = i < a.lq;

  if (active) {
    const T* qr = q + b * a.q_sb + i * a.q_sl + h * a.q_sh;
    for (int d = lane; d < a.d; d += 32) qs[warp * a.d + d] = to_float(qr[d]) * a.scale;
  }
  float m = -INFINITY, l = 0.0f;
  float acc[kMaxDvPerLane];
#pragma unroll
  for (int t = 0; t < kMaxDvPerLane; ++t) acc[t] = 0.0f;

  for (std::int64_t k0 = 0; k0 < a.lk; k0 += kKeysPerTile) {
    const int nk = static_cast<int>(a.lk - k0 < kKeysPerTile ? a.lk - k0 : kKeysPerTile);
    __syncthreads();  // the previous tile is consumed (and qs written before the first)
    for (int e = threadIdx.x; e < nk * a.d; e += blockDim.x) {
      const int j = e / a.d, d = e - j * a.d;
      ks[j * (a.d + 1) + d] = to_float(k[b * a.k_sb + (k0 + j) * a.k_sl + h * a.k_sh + d]);
    }
    for (int e = threadIdx.x; e < nk * a.dv; e += blockDim.x) {
      const int j = e / a.dv, d = e - j * a.dv;
      vs[j * a.dv + d] = to_float(v[b * a.v_sb + (k0 + j) * a.v_sl + h * a.v_sh + d]);
    }
    __syncthreads();
    if (!active) continue;
    float s = -INFINITY;
    if (lane < nk) {
      s = 0.0f;
      const float* kr = ks + lane * (a.d + 1);
      const float* qr = qs + warp * a.d;
      for (int d = 0; d < a.d; ++d) s = fmaf(qr[d], kr[d], s);
      if (a.mask != nullptr) s += load_any(a.mask, a.mask_dtype, b * a.m_sb + i * a.m_sq + (k0 + lane) * a.m_sk);
    }
    const float m_new = fmaxf(m, warp_max(s));
    // While every key so far is masked, m_new is -inf; skipping keeps NaN out of the state.
    if (m_new == -INFINITY) continue;
    const float p = expf(s - m_new);
    const float corr = expf(m - m_new);
    l = l * corr + warp_sum(p);
#pragma unroll
    for (int t = 0; t < kMaxDvPerLane; ++t) acc[t] *= corr;
    for (int j = 0; j < nk; ++j) {
      const float pj = __shfl_sync(0xffffffffu, p, j);
      const float* vr = vs + j * a.dv;
#pragma unroll
      for (int t = 0; t < kMaxDvPerLane; ++t) {
        const int d = lane + 32 * t;
        if (d < a.dv) acc[t] = fmaf(pj, vr[d], acc[t]);
      }
    }
    m = m_new;
  }
  if (!active) return;
  // A fully masked row divides 0 by 0 and gives NaN, as softmax over all -inf does in torch.
  const float inv = 1.0f / l;
  T* orow = out + b * a.o_sb + i * a.o_sl + h * a.o_sh;
#pragma unroll
  for (int t = 0; t < kMaxDvPerLane; ++t) {
    const int d = lane + 32 * t;
    if (d < a.dv) orow[d] = from_float<T>(acc[t] * inv);
  }
}

}  // namespace

std::int64_t attention_max_head_dim() { return kMaxHeadDim; }

void attention(const Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, float scale) {
  check_float_same("attention", {&out, &q, &k, &v});
  WMA_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4 && out.dim() == 4, "[attention] q ", q.describe(), ", k ",
            k.describe(), ", v ", v.describe(), ", out ", out.describe());
  const std::int64_t batch = q.size(0), lq = q.size(1), heads = q.size(2), d = q.size(3);
  const std::int64_t lk = k.size(1), dv = v.size(3);
  WMA_CHECK(k.size(0) == batch && v.size(0) == batch && k.size(2) == heads && v.size(2) == heads && k.size(3) == d &&
                v.size(1) == lk && out.shape() == (Shape{batch, lq, heads, dv}),
            "[attention] q ", q.describe(), ", k ", k.describe(), ", v ", v.describe(), ", out ", out.describe());
  WMA_CHECK((q.stride(3) == 1 || d == 1) && (k.stride(3) == 1 || d == 1) && (v.stride(3) == 1 || dv == 1) &&
                (out.stride(3) == 1 || dv == 1),
            "[attention] q, k, v and out need a contiguous last dimension");
  WMA_CHECK(dv <= kMaxHeadDim && d <= kMaxHeadDim, "[attention] head dims above ", kMaxHeadDim,
            " are not supported (d ", d, ", dv ", dv, ")");
  WMA_CHECK(heads <= kMaxGridY && batch <= kMaxGridZ, "[attention] grid too large: batch ", batch, ", heads ", heads);
  AttnArgs a{};
  a.lq = lq;
  a.lk = lk;
  a.heads = static_cast<int>(heads);
  a.d = static_cast<int>(d);
  a.dv = static_cast<int>(dv);
  a.q_sb = q.stride(0), a.q_sl = q.stride(1), a.q_sh = q.stride(2);
  a.k_sb = k.stride(0), a.k_sl = k.stride(1), a.k_sh = k.stride(2);
  a.v_sb = v.stride(0), a.v_sl = v.stride(1), a.v_sh = v.stride(2);
  a.o_sb = out.stride(0), a.o_sl = out.stride(1), a.o_sh = out.stride(2);
  a.scale = scale;
  if (mask != nullptr) {
    WMA_CHECK(mask->device() == Device::CUDA && dtype_is_float(mask->dtype()) && mask->dim() == 3 &&
                  (mask->size(0) == batch || mask->size(0) == 1) && mask->size(1) == lq && mask->size(2) == lk,
              "[attention] mask ", mask->describe(), " must be [", batch, " or 1, ", lq, ", ", lk, "]");
    a.mask = mask->data_ptr();
    a.mask_dtype = mask->dtype();
    a.m_sb = mask->size(0) == 1 ? 0 : mask->stride(0);
    a.m_sq = mask->stride(1);
    a.m_sk = mask->stride(2);
  }
  if (out.numel() == 0) return;
  if (!context().general_kernels_only_) {
    // Sequences of a few frames waste most of the flash kernel's 64-key tiles; they get a kernel of their own.
    if (short_attention(out, q, k, v, mask, scale)) return;
    const std::vector<ops::KeyValueBranch> branch{{k, v, mask}};
    if (flash_attention_wgmma_sum(out, q, branch, scale)) return;
    if (flash_attention_sum(out, q, branch, scale)) return;
  }
  const std::size_t smem =
      sizeof(float) * static_cast<std::size_t>(kQueriesPerBlock * d + kKeysPerTile * (d + 1) + kKeysPerTile * dv);
  const dim3 grid(static_cast<unsigned>((lq + kQueriesPerBlock - 1) / kQueriesPerBlock), static_cast<unsigned>(heads),
                  static_cast<unsigned>(batch));
  dispatch_float(out.dtype(), "attention", [&]<typename T>() {
    if (smem > kDefaultSharedMemory) {
      WMA_CHECK(smem <= context().max_smem_per_block_, "[attention] needs ", smem, " bytes of shared memory");
      WMA_CUDA_CHECK(cudaFuncSetAttribute(attention_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(smem)));
    }
    attention_kernel<T>
        <<<grid, kQueriesPerBlock * 32, smem, stream()>>>(out.data<T>(), q.data<T>(), k.data<T>(), v.data<T>(), a);
    WMA_CUDA_CHECK_LAUNCH();
  });
}

void attention_sum(const Tensor& out, const Tensor& q, const std::vector<ops::KeyValueBranch>& branches, float scale) {
  check_contiguous("attention_sum", {&out});
  if (!context().general_kernels_only_ &&
      (flash_attention_wgmma_sum(out, q, branches, scale) || flash_attention_sum(out, q, branches, scale)))
    return;
  attention(out, q, branches[0].k, branches[0].v, branches[0].mask, scale);
  if (branches.size() == 1) return;
  const Tensor part = Tensor::empty(out.shape(), out.dtype(), Device::CUDA);
  for (std::size_t i = 1; i < branches.size(); ++i) {
    attention(part, q, branches[i].k, branches[i].v, branches[i].mask, scale);
    binary(out, out, part, BinaryOp::Add);
  }
}

}  // namespace wma::cuda
