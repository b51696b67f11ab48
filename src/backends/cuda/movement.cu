// Data movement: copy_into (any dtype pair, any strides; same-dtype rows at copy bandwidth), fill, and nearest
// 2x upsampling (channels-last).
#include <type_traits>

#include "backends/cuda/common.cuh"

namespace wma::cuda {
namespace {

template <typename D, typename S>
__device__ __forceinline__ D convert(S v) {
  if constexpr (std::is_integral_v<D> && std::is_integral_v<S>) return static_cast<D>(v);
  else return from_float<D>(to_float<S>(v));
}

template <typename D, typename S>
__global__ void copy_kernel(D* dst, const S* src, StridedMap m, std::int64_t n) {
  grid_stride_loop(n, [&](const std::int64_t i) {
    std::int64_t off[2];
    m.offsets(i, off, 2);
    dst[off[0]] = convert<D, S>(src[off[1]]);
  });
}

template <typename T>
__global__ void fill_kernel(T* dst, StridedMap m, std::int64_t n, T value) {
  grid_stride_loop(n, [&](const std::int64_t i) {
    std::int64_t off[1];
    m.offsets(i, off, 1);
    dst[off[0]] = value;
  });
}

template <typename T>
__global__ void upsample2x_kernel(T* out, const T* x, std::int64_t n, std::int64_t h, std::int64_t w, std::int64_t c) {
  grid_stride_loop(n, [&](const std::int64_t i) {
    std::int64_t r = i;
    const std::int64_t ch = r % c;
    r /= c;
    const std::int64_t ow = r % (2 * w);
    r /= 2 * w;
    const std::int64_t oh = r % (2 * h);
    const std::int64_t nb = r / (2 * h);
    out[i] = x[((nb * h + oh / 2) * w + ow / 2) * c + ch];
  });
}

// Rows of 16-byte vectors between two row-strided layouts (strides in vectors): the skip concatenations and
// other slices along the last dimension, at copy bandwidth instead of one element per index computation.
__global__ void copy_rows_kernel(uint4* dst, const uint4* src, std::int64_t rows, std::int64_t row_vecs,
                                 std::int64_t dst_stride, std::int64_t src_stride) {
  const std::int64_t n = rows * row_vecs;
  grid_stride_loop(n, [&](const std::int64_t i) {
    const std::int64_t r = i / row_vecs, j = i - r * row_vecs;
    dst[r * dst_stride + j] = src[r * src_stride + j];
  });
}

// The rank-2 (after merging) same-dtype case whose rows are contiguous and 16-byte aligned.
bool copy_rows(const Tensor& dst, const Tensor& src, const StridedMap& m) {
  if (dst.dtype() != src.dtype() || context().general_kernels_only_) return false;
  const std::int64_t item = static_cast<std::int64_t>(dtype_size(dst.dtype()));
  const std::int64_t rows = m.rank == 2 ? m.shape[0] : 1, cols = m.shape[m.rank - 1];
  if (m.rank < 1 || m.rank > 2 || m.strides[0][m.rank - 1] != 1 || m.strides[1][m.rank - 1] != 1) return false;
  const std::int64_t dst_stride = m.rank == 2 ? m.strides[0][0] * item : 0;
  const std::int64_t src_stride = m.rank == 2 ? m.strides[1][0] * item : 0;
  if ((cols * item) % 16 != 0 || dst_stride % 16 != 0 || src_stride % 16 != 0 ||
      (reinterpret_cast<std::uintptr_t>(dst.data_ptr()) & 15u) != 0 ||
      (reinterpret_cast<std::uintptr_t>(src.data_ptr()) & 15u) != 0)
    return false;
  const std::int64_t row_vecs = cols * item / 16;
  copy_rows_kernel<<<grid_for(rows * row_vecs), kThreads, 0, stream()>>>(static_cast<uint4*>(dst.data_ptr()),
                                                                         static_cast<const uint4*>(src.data_ptr()),
                                                                         rows, row_vecs, dst_stride / 16,
                                                                         src_stride / 16);
  WMA_CUDA_CHECK_LAUNCH();
  return true;
}

}  // namespace

void copy_into(const Tensor& dst, const Tensor& src) {
  WMA_CHECK(dst.shape() == src.shape(), "[copy_into] shape mismatch: ", dst.describe(), " <- ", src.describe());
  WMA_CHECK(dst.device() == Device::CUDA && src.device() == Device::CUDA,
            "[copy_into] both tensors must be on the GPU: ", dst.describe(), " <- ", src.describe());
  const std::int64_t n = dst.numel();
  if (n == 0) return;
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    if (dst.data_ptr() != src.data_ptr())
      WMA_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), dst.nbytes(), cudaMemcpyDeviceToDevice, stream()));
    return;
  }
  const Shape* st[2] = {&dst.strides(), &src.strides()};
  const StridedMap m = make_strided_map(dst.shape(), st, 2, "copy_into");
  if (copy_rows(dst, src, m)) return;
  dispatch_any(dst.dtype(), [&]<typename D>() {
    dispatch_any(src.dtype(), [&]<typename S>() {
      copy_kernel<D, S><<<grid_for(n), kThreads, 0, stream()>>>(dst.data<D>(), src.data<S>(), m, n);
      WMA_CUDA_CHECK_LAUNCH();
    });
  });
}

void fill(const Tensor& dst, float value) {
  WMA_CHECK(dst.device() == Device::CUDA, "[fill] expected a CUDA tensor, got ", dst.describe());
  const std::int64_t n = dst.numel();
  if (n == 0) return;
  const Shape* st[1] = {&dst.strides()};
  const StridedMap m = make_strided_map(dst.shape(), st, 1, "fill");
  dispatch_any(dst.dtype(), [&]<typename T>() {
    const T v = [&] {
      if constexpr (std::is_integral_v<T>) return static_cast<T>(value);
      else if constexpr (std::is_same_v<T, float>) return value;
      else if constexpr (std::is_same_v<T, __half>) return __float2half_rn(value);
      else return __float2bfloat16_rn(value);
    }();
    fill_kernel<T><<<grid_for(n), kThreads, 0, stream()>>>(dst.data<T>(), m, n, v);
    WMA_CUDA_CHECK_LAUNCH();
  });
}

void upsample_nearest2x(const Tensor& out, const Tensor& x) {
  check_float_same("upsample_nearest2x", {&out, &x});
  check_contiguous("upsample_nearest2x", {&out, &x});
  WMA_CHECK(x.dim() == 4 && out.dim() == 4 && out.size(1) == 2 * x.size(1) && out.size(2) == 2 * x.size(2) &&
                out.size(0) == x.size(0) && out.size(3) == x.size(3),
            "[upsample_nearest2x] ", x.describe(), " -> ", out.describe());
  const std::int64_t n = out.numel();
  if (n == 0) return;
  dispatch_float(out.dtype(), "upsample_nearest2x", [&]<typename T>() {
    upsample2x_kernel<T>
        <<<grid_for(n), kThreads, 0, stream()>>>(out.data<T>(), x.data<T>(), n, x.size(1), x.size(2), x.size(3));
    WMA_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace wma::cuda
