// Front door of the data-movement ops. concat, repeat and repeat_interleave are copies into
// slices or reshaped views of the output (no kernels of their own); to_device goes through
// the CUDA backend's cross-device copy.
#include "ops/checks.h"
#include "ops/ops.h"

namespace wma::ops {

using namespace detail;

void copy_into(const Tensor& dst, const Tensor& src) {
  check_defined("copy_into", "dst", dst);
  check_same_device("copy_into", "dst", dst, "src", src);
  WMA_CHECK(dst.shape() == src.shape(), "[copy_into] shapes differ: dst ", dst.describe(), ", src ", src.describe());
  if (dst.numel() == 0) return;
  WMA_DISPATCH_SHAPED("copy_into", dst.device(), detail::traffic({&dst, &src}), &dst, copy_into(dst, src));
}

Tensor contiguous(const Tensor& x) {
  check_defined("contiguous", "x", x);
  if (x.is_contiguous()) return x;
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  copy_into(out, x);
  return out;
}

Tensor cast(const Tensor& x, DType dtype) {
  check_defined("cast", "x", x);
  if (x.dtype() == dtype) return x;
  Tensor out = Tensor::empty(x.shape(), dtype, x.device());
  copy_into(out, x);
  return out;
}

Tensor to_device(const Tensor& x, Device device) {
  check_defined("to_device", "x", x);
  if (device == x.device()) {
    Tensor out = Tensor::empty(x.shape(), x.dtype(), device);
    copy_into(out, x);
    return out;
  }
#if WMA_WITH_CUDA
  Tensor out = Tensor::empty(x.shape(), x.dtype(), device);
  if (out.numel() > 0) cuda::copy_across_devices(out, contiguous(x));
  return out;
#else
  no_cuda("to_device");
#endif
}

Tensor concat(const std::vector<Tensor>& xs, int dim) {
  WMA_CHECK(!xs.empty(), "[concat] needs at least one tensor");
  const Tensor& first = xs[0];
  check_defined("concat", "xs[0]", first);
  const int d = wrap_dim("concat", dim, first.dim());
  Shape shape = first.shape();
  shape[d] = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    check_same("concat", "xs[0]", first, "a tensor", x);
    bool compatible = x.dim() == first.dim();
    for (int j = 0; j < first.dim() && compatible; ++j) compatible = j == d || x.size(j) == first.size(j);
    WMA_CHECK(compatible, "[concat] xs[", i, "] ", x.describe(), " does not match xs[0] ", first.describe(),
              " outside dim ", d);
    shape[d] += x.size(d);
  }
  Tensor out = Tensor::empty(shape, first.dtype(), first.device());
  std::int64_t start = 0;
  for (const Tensor& x : xs) {
    copy_into(out.slice(d, start, start + x.size(d)), x);
    start += x.size(d);
  }
  return out;
}

namespace {

// Shared by repeat and repeat_interleave: views the output with dim split in two, the copy
// count at `times_at` (dim for tiling, dim + 1 for interleaving), and copies a stride-0 view in.
Tensor repeat_along(const char* op, const Tensor& x, int dim, std::int64_t times, bool interleave) {
  check_defined(op, "x", x);
  WMA_CHECK(times >= 0, "[", op, "] times must be >= 0, got ", times);
  const int d = wrap_dim(op, dim, x.dim());
  Shape shape = x.shape();
  shape[d] *= times;
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  const int times_at = interleave ? d + 1 : d;
  Shape split = x.shape();
  split.insert(split.begin() + times_at, times);
  copy_into(out.reshape(split), x.unsqueeze(times_at).expand(split));
  return out;
}

}  // namespace

Tensor repeat(const Tensor& x, int dim, std::int64_t times) { return repeat_along("repeat", x, dim, times, false); }

Tensor repeat_interleave(const Tensor& x, int dim, std::int64_t times) {
  return repeat_along("repeat_interleave", x, dim, times, true);
}

void fill(const Tensor& dst, float value) {
  check_defined("fill", "dst", dst);
  if (dst.numel() == 0) return;
  WMA_DISPATCH("fill", dst.device(), fill(dst, value));
}

Tensor upsample_nearest2x(const Tensor& x) {
  check_rank("upsample_nearest2x", "x", x, 4, "[N, H, W, C]");
  const Tensor xc = contiguous(x);
  Tensor out = Tensor::empty({x.size(0), 2 * x.size(1), 2 * x.size(2), x.size(3)}, x.dtype(), x.device());
  if (out.numel() == 0) return out;
  WMA_DISPATCH("upsample_nearest2x", x.device(), upsample_nearest2x(out, xc));
  return out;
}

}  // namespace wma::ops
