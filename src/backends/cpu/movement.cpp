// CPU data movement: strided copies (which are also how dtype casts happen), fills and
// nearest-neighbour upsampling. Copies and fills handle every dtype; the rest is f32.
#include <cstring>

#include "backends/backend.h"
#include "backends/cpu/common.h"

namespace wma::cpu {

namespace {

template <typename D, typename S>
void copy_typed(const Tensor& dst, const Tensor& src) {
  D* d = dst.data<D>();
  const S* s = src.data<S>();
  const std::array<const Shape*, 2> strides{&dst.strides(), &src.strides()};
  for_each_run<2>(dst.shape(), strides, 1, [&](std::int64_t len, const auto& off, const auto& inner) {
    D* dp = d + off[0];
    const S* sp = s + off[1];
    if constexpr (std::is_same_v<D, S>) {
      if (inner[0] == 1 && inner[1] == 1) {
        std::memcpy(dp, sp, static_cast<std::size_t>(len) * sizeof(D));
        return;
      }
    }
    using V = std::conditional_t<kIsInteger<D> && kIsInteger<S>, std::int64_t, float>;
    for (std::int64_t i = 0; i < len; ++i)
      dp[i * inner[0]] = store_value<D>(static_cast<V>(load_value(sp[i * inner[1]])));
  });
}

}  // namespace

void copy_into(const Tensor& dst, const Tensor& src) {
  visit_dtype(dst.dtype(), [&](auto dtag) {
    visit_dtype(src.dtype(),
                [&](auto stag) { copy_typed<typename decltype(dtag)::type, typename decltype(stag)::type>(dst, src); });
  });
}

void fill(const Tensor& dst, float value) {
  visit_dtype(dst.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = store_value<T>(value);
    T* d = dst.data<T>();
    const std::array<const Shape*, 1> strides{&dst.strides()};
    for_each_run<1>(dst.shape(), strides, 1, [&](std::int64_t len, const auto& off, const auto& inner) {
      for (std::int64_t i = 0; i < len; ++i) d[off[0] + i * inner[0]] = v;
    });
  });
}

void upsample_nearest2x(const Tensor& out, const Tensor& x) {
  require_f32("upsample_nearest2x", x);
  const std::int64_t n = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3);
  const float* xp = x.data<float>();
  float* op = out.data<float>();
  parallel_for(n * h, 4 * w * c, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t row = begin; row < end; ++row) {
      const float* src = xp + row * w * c;
      float* dst = op + row * 4 * w * c;  // output rows 2*i and 2*i+1 of image n
      for (std::int64_t j = 0; j < w; ++j) {
        std::memcpy(dst + (2 * j) * c, src + j * c, static_cast<std::size_t>(c) * sizeof(float));
        std::memcpy(dst + (2 * j + 1) * c, src + j * c, static_cast<std::size_t>(c) * sizeof(float));
      }
      std::memcpy(dst + 2 * w * c, dst, static_cast<std::size_t>(2 * w * c) * sizeof(float));
    }
  });
}

}  // namespace wma::cpu
