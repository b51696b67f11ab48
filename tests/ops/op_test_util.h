// Helpers for the op tests: seeded random tensors, non-contiguous views of the same values,
// closeness checks and error-message checks. References are naive loops over to_floats().
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ops/ops.h"

namespace wma::test {

inline std::vector<float> random_values(std::int64_t n, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

inline Tensor random_tensor(const Shape& shape, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
  return Tensor::from_floats(shape, random_values(shape_numel(shape), seed, lo, hi));
}

// A view with the given shape whose rows are padded (last dim contiguous, others strided).
inline Tensor padded_view(const Shape& shape, unsigned seed) {
  Shape big = shape;
  big.back() += 3;
  return random_tensor(big, seed).slice(-1, 1, 1 + shape.back());
}

// A view with the given shape whose last two dims are transposed in memory.
inline Tensor transposed_view(const Shape& shape, unsigned seed) {
  Shape swapped = shape;
  std::swap(swapped[swapped.size() - 1], swapped[swapped.size() - 2]);
  const int r = static_cast<int>(shape.size());
  return random_tensor(swapped, seed).transpose(r - 1, r - 2);
}

inline void expect_close(const Tensor& actual, const std::vector<float>& expected, float rtol = 1e-5f,
                         float atol = 1e-6f) {
  ASSERT_EQ(actual.device(), Device::CPU);
  const std::vector<float> got = actual.to_floats();
  ASSERT_EQ(got.size(), expected.size()) << actual.describe();
  int reported = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const float tol = atol + rtol * std::fabs(expected[i]);
    const bool ok = (std::isnan(expected[i]) && std::isnan(got[i])) || std::fabs(got[i] - expected[i]) <= tol ||
                    got[i] == expected[i];
    if (!ok && reported++ < 5) ADD_FAILURE() << "element " << i << ": got " << got[i] << ", expected " << expected[i];
  }
}

// fn must throw wma::Error whose message contains `needle`.
inline void expect_error(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected an error containing \"" << needle << "\"";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what();
  }
}

// Row-major flat index of a multi-index.
inline std::int64_t flat(const Shape& shape, const std::vector<std::int64_t>& index) {
  std::int64_t f = 0;
  for (std::size_t d = 0; d < shape.size(); ++d) f = f * shape[d] + index[d];
  return f;
}

inline float gelu_ref(double x) { return static_cast<float>(0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)))); }

}  // namespace wma::test
