// Deterministic parameter values: one formula of (checkpoint key, element index), shared bit for bit with
// tools/reference/det_weights.py, so C++ tests rebuild exactly the weights behind tests/fixtures/.
// docs/fixtures.md is the normative description of the formula.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/tensor.h"

namespace wma::models {

std::uint64_t fnv1a64(std::string_view bytes);
std::uint64_t splitmix64(std::uint64_t z);

// Value of element `index` (row-major) of the parameter `key` with `shape`.
float deterministic_weight(std::string_view key, const Shape& shape, std::int64_t index);

// The whole parameter as a contiguous CPU f32 tensor.
Tensor deterministic_tensor(std::string_view key, const Shape& shape);

// Order-sensitive hash of float32 bit patterns: sum_i splitmix64(bits_i ^ (i << 32)) mod 2^64.
// The Python side records it in tests/fixtures/weight_checksums.txt.
std::uint64_t float_bits_hash(const float* values, std::int64_t count);

}  // namespace wma::models
