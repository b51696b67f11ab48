// Front door of attention: q/k/v may be strided views (e.g. slices of a fused QKV projection)
// as long as the head dim is contiguous; anything else is copied first. attention_into writes
// through a strided output view the same way.
#include "ops/checks.h"
#include "ops/ops.h"

#include <vector>

namespace wma::ops {

using namespace detail;

namespace {

Tensor last_dim_contiguous(const Tensor& t) { return t.stride(-1) == 1 || t.size(-1) == 1 ? t : contiguous(t); }

// Heads wider than the backend's kernels take (on CUDA 256: the VAE's single-head mid-block attention has
// d = 512) go through two batched GEMMs per head, with the logits and the softmax in f32.
Tensor attention_by_gemm(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, float scale) {
  std::vector<Tensor> heads;
  for (std::int64_t h = 0; h < q.size(2); ++h) {
    const Tensor qh = cast(contiguous(q.select(2, h)), DType::F32);                                 // [B, Lq, D]
    const Tensor kt = contiguous(cast(contiguous(k.select(2, h)), DType::F32).permute({0, 2, 1}));  // [B, D, Lk]
    Tensor logits = ops::scale(matmul(qh, kt), scale);
    if (mask) logits = add(logits, cast(*mask, DType::F32));
    const Tensor probs = cast(softmax(logits), q.dtype());
    heads.push_back(matmul(probs, contiguous(v.select(2, h))).unsqueeze(2));  // [B, Lq, 1, Dv]
  }
  return heads.size() == 1 ? heads[0] : concat(heads, 2);
}

// Checks q/k/v/mask and returns the output shape [B, Lq, H, Dv]; `mask_c` receives the mask with unit key
// stride: contiguous, or kept as a view broadcast over the queries (query stride 0), the layout of a mask
// that is the same for every query (the action branch's), which is then never materialised.
Shape check_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, Tensor& mask_c) {
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
  if (mask) {
    check_same("attention", "q", q, "mask", *mask);
    WMA_CHECK(mask->dim() == 3 && (mask->size(0) == b || mask->size(0) == 1) && mask->size(1) == lq &&
                  mask->size(2) == lk,
              "[attention] expected mask [", b, " or 1, ", lq, ", ", lk, "], got ", mask->describe());
    const bool broadcast_over_queries = mask->stride(1) == 0 && (mask->size(2) == 1 || mask->stride(2) == 1) &&
                                        (mask->size(0) == 1 || mask->stride(0) == mask->size(2));
    mask_c = broadcast_over_queries ? *mask : contiguous(*mask);
  }
  WMA_CHECK(lk > 0 || b * lq * h * v.size(3) == 0, "[attention] needs at least one key, got k ", k.describe());
  return {b, lq, h, v.size(3)};
}

std::int64_t max_kernel_head_dim([[maybe_unused]] Device device) {
#if WMA_WITH_CUDA
  if (device != Device::CPU) return cuda::attention_max_head_dim();
#endif
  return cpu::attention_max_head_dim();
}

bool needs_gemm_path(const Tensor& q, const Tensor& v) {
  const std::int64_t widest = max_kernel_head_dim(q.device());
  return q.size(3) > widest || v.size(3) > widest;
}

// out is checked and non-empty.
void run_kernel(const Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, float scale) {
  const Tensor qc = last_dim_contiguous(q), kc = last_dim_contiguous(k), vc = last_dim_contiguous(v);
  WMA_DISPATCH_TRAFFIC("attention", q.device(), detail::traffic({&out, &qc, &kc, &vc}),
                       attention(out, qc, kc, vc, mask, scale));
}

}  // namespace

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, float scale) {
  Tensor mc;
  const Shape shape = check_attention(q, k, v, mask, mc);
  if (needs_gemm_path(q, v) && shape[0] > 0 && shape[1] > 0)
    return attention_by_gemm(q, k, v, mask ? &mc : nullptr, scale);
  Tensor out = Tensor::empty(shape, q.dtype(), q.device());
  if (out.numel() == 0) return out;
  run_kernel(out, q, k, v, mask ? &mc : nullptr, scale);
  return out;
}

void attention_into(const Tensor& out, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask,
                    float scale) {
  Tensor mc;
  const Shape shape = check_attention(q, k, v, mask, mc);
  check_same("attention", "q", q, "out", out);
  check_shape("attention", "out", out, shape);
  WMA_CHECK(out.stride(3) == 1 || shape[3] == 1, "[attention] expected out with a contiguous last dim, got ",
            out.describe(), " with strides ", shape_str(out.strides()));
  if (out.numel() == 0) return;
  // The two-GEMM path builds its result head by head; the view gets one copy of it.
  if (needs_gemm_path(q, v)) return copy_into(out, attention_by_gemm(q, k, v, mask ? &mc : nullptr, scale));
  run_kernel(out, q, k, v, mask ? &mc : nullptr, scale);
}

Tensor attention_sum(const Tensor& q, const std::vector<KeyValueBranch>& branches, float scale) {
  WMA_CHECK(!branches.empty(), "[attention_sum] needs at least one key/value branch");
  std::vector<Tensor> masks(branches.size());
  Shape shape;
  for (std::size_t i = 0; i < branches.size(); ++i) {
    const Shape s = check_attention(q, branches[i].k, branches[i].v, branches[i].mask, masks[i]);
    WMA_CHECK(i == 0 || s == shape, "[attention_sum] branch ", i, " gives ", shape_str(s), ", branch 0 gives ",
              shape_str(shape));
    shape = s;
  }
  if (!fusion_enabled() || needs_gemm_path(q, branches[0].v)) {
    Tensor sum;
    for (const KeyValueBranch& b : branches) {
      const Tensor o = attention(q, b.k, b.v, b.mask, scale);
      sum = sum.defined() ? add(sum, o) : o;
    }
    return sum;
  }
  Tensor out = Tensor::empty(shape, q.dtype(), q.device());
  if (out.numel() == 0) return out;
  std::vector<KeyValueBranch> ready;
  for (std::size_t i = 0; i < branches.size(); ++i)
    ready.push_back({last_dim_contiguous(branches[i].k), last_dim_contiguous(branches[i].v),
                     branches[i].mask ? &masks[i] : nullptr});
  const Tensor qc = last_dim_contiguous(q);
  std::int64_t bytes = detail::traffic({&out, &qc});
  for (const KeyValueBranch& b : ready) bytes += detail::traffic({&b.k, &b.v});
  WMA_DISPATCH_TRAFFIC("attention_sum", q.device(), bytes, attention_sum(out, qc, ready, scale));
  return out;
}

}  // namespace wma::ops
