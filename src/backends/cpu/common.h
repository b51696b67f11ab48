// Helpers shared by the CPU kernels: the fp32-only check, dtype dispatch for copies,
// strided iteration with coalesced dimensions, a dot product and the activation formulas.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "backends/cpu/parallel.h"
#include "core/tensor.h"
#include "ops/params.h"

namespace wma::cpu {

inline void require_f32(const char* op, const Tensor& t) {
  WMA_CHECK(t.dtype() == DType::F32, "[", op, "] the CPU backend computes in f32 only, got ", t.describe());
}

// Storage types for the two 16-bit float formats, so templates can tell them apart.
struct Half {
  std::uint16_t bits;
};
struct BFloat {
  std::uint16_t bits;
};

template <typename T>
struct TypeTag {
  using type = T;
};

template <typename Fn>
decltype(auto) visit_dtype(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::F32: return fn(TypeTag<float>{});
    case DType::F16: return fn(TypeTag<Half>{});
    case DType::BF16: return fn(TypeTag<BFloat>{});
    case DType::I32: return fn(TypeTag<std::int32_t>{});
    case DType::I64: return fn(TypeTag<std::int64_t>{});
  }
  fail("[cpu] unknown dtype");
}

template <typename T>
inline constexpr bool kIsInteger = std::is_integral_v<T>;

// Integers convert through int64 so i64 <-> i32 copies stay exact; everything else through float.
template <typename T>
using ValueOf = std::conditional_t<kIsInteger<T>, std::int64_t, float>;

template <typename T>
inline auto load_value(T v) {
  if constexpr (std::is_same_v<T, Half>) return half_to_float(v.bits);
  else if constexpr (std::is_same_v<T, BFloat>) return bf16_to_float(v.bits);
  else return v;
}

template <typename T, typename V>
inline T store_value(V v) {
  if constexpr (std::is_same_v<T, Half>) return Half{float_to_half(static_cast<float>(v))};
  else if constexpr (std::is_same_v<T, BFloat>) return BFloat{float_to_bf16(static_cast<float>(v))};
  else return static_cast<T>(v);
}

// A shape with its dimensions merged where every operand's memory allows it, and size-1
// dimensions dropped; always at least one dimension. Strides are in elements.
template <std::size_t K>
struct Layout {
  Shape shape;
  std::array<Shape, K> strides;
};

template <std::size_t K>
Layout<K> coalesce(const Shape& shape, const std::array<const Shape*, K>& strides) {
  Layout<K> out;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !out.shape.empty();
    for (std::size_t k = 0; k < K && merge; ++k) merge = out.strides[k].back() == (*strides[k])[d] * shape[d];
    if (merge) {
      out.shape.back() *= shape[d];
      for (std::size_t k = 0; k < K; ++k) out.strides[k].back() = (*strides[k])[d];
    } else {
      out.shape.push_back(shape[d]);
      for (std::size_t k = 0; k < K; ++k) out.strides[k].push_back((*strides[k])[d]);
    }
  }
  if (out.shape.empty()) {
    out.shape.push_back(shape_numel(shape) == 0 ? 0 : 1);
    for (std::size_t k = 0; k < K; ++k) out.strides[k].push_back(1);
  }
  return out;
}

// Calls run(len, offsets, inner_strides) for each run along the innermost dimension of `shape`,
// where offsets[k] is operand k's element offset of the run's first element. Runs are
// split across threads; `cost` is the rough operation count per element.
template <std::size_t K, typename Run>
void for_each_run(const Shape& shape, const std::array<const Shape*, K>& strides, std::int64_t cost, Run run) {
  const Layout<K> layout = coalesce(shape, strides);
  const int rank = static_cast<int>(layout.shape.size());
  const std::int64_t len = layout.shape[rank - 1];
  if (len == 0) return;
  std::int64_t outer = 1;
  for (int d = 0; d < rank - 1; ++d) outer *= layout.shape[d];
  std::array<std::int64_t, K> inner;
  for (std::size_t k = 0; k < K; ++k) inner[k] = layout.strides[k][rank - 1];
  parallel_for(outer, len * cost, [&](std::int64_t begin, std::int64_t end) {
    std::vector<std::int64_t> index(static_cast<std::size_t>(rank), 0);
    std::array<std::int64_t, K> off{};
    std::int64_t rest = begin;
    for (int d = rank - 2; d >= 0; --d) {
      index[d] = rest % layout.shape[d];
      rest /= layout.shape[d];
      for (std::size_t k = 0; k < K; ++k) off[k] += index[d] * layout.strides[k][d];
    }
    for (std::int64_t r = begin; r < end; ++r) {
      run(len, off, inner);
      for (int d = rank - 2; d >= 0; --d) {
        for (std::size_t k = 0; k < K; ++k) off[k] += layout.strides[k][d];
        if (++index[d] < layout.shape[d]) break;
        for (std::size_t k = 0; k < K; ++k) off[k] -= layout.strides[k][d] * layout.shape[d];
        index[d] = 0;
      }
    }
  });
}

// Eight independent partial sums: lets the compiler vectorise without -ffast-math, and
// rounds better than one running sum.
inline float dot(const float* a, const float* b, std::int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  for (; i < n; ++i) acc[i & 7] += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

// The formulas PyTorch's CPU kernels use, in fp32.
inline float apply_activation(float x, ops::Activation act) {
  switch (act) {
    case ops::Activation::None: return x;
    case ops::Activation::SiLU: return x / (1.0f + std::exp(-x));
    case ops::Activation::GELU: return 0.5f * x * (1.0f + std::erf(x * static_cast<float>(M_SQRT1_2)));
    case ops::Activation::GELUTanh: {
      const float k_beta = static_cast<float>(M_SQRT2 * M_2_SQRTPI * 0.5);
      const float inner = k_beta * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.0f + std::tanh(inner));
    }
    case ops::Activation::Mish: {
      const float softplus = x > 20.0f ? x : std::log1p(std::exp(x));
      return x * std::tanh(softplus);
    }
    case ops::Activation::ReLU: return x < 0.0f ? 0.0f : x;
  }
  return x;
}

// Values of an optional norm affine parameter in f32 (any float dtype is accepted there).
inline std::vector<float> affine_values(const Tensor* t, std::int64_t n, float fallback) {
  if (!t) return std::vector<float>(static_cast<std::size_t>(n), fallback);
  return t->to_floats();
}

}  // namespace wma::cpu
