// Front door of attention: q/k/v may be strided views (e.g. slices of a fused QKV projection)
// as long as the head dim is contiguous; anything else is copied first.
#include "ops/checks.h"
#include "ops/ops.h"

#include <vector>

namespace wma::ops {

using namespace detail;

namespace {

Tensor last_dim_contiguous(const Tensor& t) { return t.stride(-1) == 1 || t.size(-1) == 1 ? t : contiguous(t); }

// The GPU attention kernels take head dims up to 256. Wider heads (the VAE's single-head mid-block attention,
// d = 512) go through two batched GEMMs per head, with the logits and the softmax in f32.
constexpr std::int64_t kMaxKernelHeadDim = 256;

Tensor attention_by_gemm(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, float scale) {
  std::vector<Tensor> heads;
  for (std::int64_t h = 0; h < q.size(2); ++h) {
    const Tensor qh = cast(contiguous(q.select(2, h)), DType::F32);                    // [B, Lq, D]
    const Tensor kt = contiguous(cast(contiguous(k.select(2, h)), DType::F32).permute({0, 2, 1}));  // [B, D, Lk]
    Tensor logits = ops::scale(matmul(qh, kt), scale);
    if (mask) logits = add(logits, cast(*mask, DType::F32));
    const Tensor probs = cast(softmax(logits), q.dtype());
    heads.push_back(matmul(probs, contiguous(v.select(2, h))).unsqueeze(2));  // [B, Lq, 1, Dv]
  }
  return heads.size() == 1 ? heads[0] : concat(heads, 2);
}

}  // namespace

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, float scale) {
  check_rank("attention", "q", q, 4, "[B, Lq, H, D]");
  check_rank("attention", "k", k, 4, "[B, Lk, H, D]");
  check_rank("attention", "v", v, 4, "[B, Lk, H, Dv]");
  check_same("attention", "q", q, "k", k);
  check_same("attention", "q", q, "v", v);
  const std::int64_t b = q.size(0), lq = q.size(1), h = q.size(2), d = q.size(3), lk = k.size(1);
  WMA_CHECK(k.size(0) == b && k.size(2) == h && k.size(3) == d, "[attention] expected k [", b, ", Lk, ", h, ", ", d,
            "] for q ", q.describe(), ", got ", k.describe());
  WMA_CHECK(v.size(0) == b && v.size(1) == lk && v.size(2) == h, "[attention] expected v [", b, ", ", lk, ", ", h,
            ", Dv] for k ", k.describe(), ", got ", v.describe());
  Tensor mc;
  if (mask) {
    check_same("attention", "q", q, "mask", *mask);
    WMA_CHECK(mask->dim() == 3 && (mask->size(0) == b || mask->size(0) == 1) && mask->size(1) == lq &&
                  mask->size(2) == lk,
              "[attention] expected mask [", b, " or 1, ", lq, ", ", lk, "], got ", mask->describe());
    mc = contiguous(*mask);
  }
  WMA_CHECK(lk > 0 || b * lq * h * v.size(3) == 0, "[attention] needs at least one key, got k ", k.describe());
  if (q.device() == Device::CUDA && (d > kMaxKernelHeadDim || v.size(3) > kMaxKernelHeadDim) && lq > 0 && b > 0)
    return attention_by_gemm(q, k, v, mask ? &mc : nullptr, scale);
  Tensor out = Tensor::empty({b, lq, h, v.size(3)}, q.dtype(), q.device());
  if (out.numel() == 0) return out;
  const Tensor qc = last_dim_contiguous(q), kc = last_dim_contiguous(k), vc = last_dim_contiguous(v);
  WMA_DISPATCH("attention", q.device(), attention(out, qc, kc, vc, mask ? &mc : nullptr, scale));
  return out;
}

}  // namespace wma::ops
