// Deterministic parameter formula (see deterministic_weights.h and docs/fixtures.md). Any change here
// must be mirrored in tools/reference/det_weights.py and the fixtures regenerated.
#include "models/deterministic_weights.h"

#include <cmath>
#include <cstring>

namespace wma::models {
namespace {

struct Affine {
  double scale;
  double offset;
};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Powers of two everywhere but 1/sqrt(fan_in): offset + x * scale is then exact in double, so the only
// rounding is the final one to float and the result cannot depend on FMA contraction.
Affine affine_for(std::string_view key, const Shape& shape) {
  const auto dot = key.rfind('.');
  const std::string_view leaf = dot == std::string_view::npos ? key : key.substr(dot + 1);
  if (ends_with(leaf, "bias")) return {0.125, 0.0};
  if (ends_with(leaf, "weight")) {
    if (shape.size() <= 1) return {0.125, 1.0};  // norm gains
    const std::int64_t fan_in = shape_numel(shape) / shape[0];
    return {1.0 / std::sqrt(static_cast<double>(fan_in)), 0.0};
  }
  return {0.5, 0.0};  // embeddings, latents, position tables, scalars
}

// x in [-1, 1): the top 24 bits of the mixed value, so every x is exact in float.
double uniform_at(std::uint64_t seed, std::int64_t index) {
  const std::uint64_t z = splitmix64(seed + static_cast<std::uint64_t>(index));
  return static_cast<double>(z >> 40) / static_cast<double>(1 << 23) - 1.0;
}

float apply(const Affine& a, double x) {
  const double scaled = x * a.scale;
  return static_cast<float>(a.offset == 0.0 ? scaled : a.offset + scaled);
}

}  // namespace

std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t h = 0xCBF29CE484222325ull;
  for (const char c : bytes) {
    h ^= static_cast<std::uint8_t>(c);
    h *= 0x100000001B3ull;
  }
  return h;
}

std::uint64_t splitmix64(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

float deterministic_weight(std::string_view key, const Shape& shape, std::int64_t index) {
  return apply(affine_for(key, shape), uniform_at(fnv1a64(key), index));
}

Tensor deterministic_tensor(std::string_view key, const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::F32, Device::CPU);
  const Affine a = affine_for(key, shape);
  const std::uint64_t seed = fnv1a64(key);
  float* out = t.data<float>();
  const std::int64_t n = t.numel();
  for (std::int64_t i = 0; i < n; ++i) out[i] = apply(a, uniform_at(seed, i));
  return t;
}

std::uint64_t float_bits_hash(const float* values, std::int64_t count) {
  std::uint64_t sum = 0;
  for (std::int64_t i = 0; i < count; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, &values[i], sizeof bits);
    sum += splitmix64(static_cast<std::uint64_t>(bits) ^ (static_cast<std::uint64_t>(i) << 32));
  }
  return sum;
}

}  // namespace wma::models
