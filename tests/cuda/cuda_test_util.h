// Helpers for the CUDA test binary: the fixture that insists on a GPU (these tests fail,
// never skip, without one), seeded random inputs, and an allocator that surrounds every
// block with guard bytes and poisons its body so stray and missing writes both show.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/tensor.h"

namespace wma::test {

// Calls cuda::init(), failing the test loudly when the machine has no usable GPU.
class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override;
};

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : gen_(seed) {}
  Tensor normal(const Shape& shape, float scale = 1.0f, float shift = 0.0f);
  Tensor uniform(const Shape& shape, float lo, float hi);
  std::int64_t integer(std::int64_t lo, std::int64_t hi);

 private:
  std::mt19937_64 gen_;
};

// Wraps the CUDA allocator: each block gets kFrontGuard bytes before and kBackGuard after it
// filled with a pattern, and its body filled with 0xFF bytes (NaN in f32, f16 and bf16).
class GuardedAllocator : public Allocator {
 public:
  static constexpr std::size_t kFrontGuard = 256;  // keeps the body 256-byte aligned
  static constexpr std::size_t kBackGuard = 1024;
  static constexpr unsigned char kGuardByte = 0x5a;

  explicit GuardedAllocator(Allocator& backing) : backing_(backing) {}
  std::shared_ptr<Storage> allocate(std::size_t bytes) override;
  Device device() const override { return backing_.device(); }
  // Descriptions of the blocks whose guard bytes changed; empty when all are intact.
  std::vector<std::string> damaged() const;
  std::size_t blocks() const { return blocks_.size(); }

 private:
  struct Block {
    std::shared_ptr<Storage> outer;
    std::size_t bytes;
  };
  Allocator& backing_;
  std::vector<Block> blocks_;
};

struct Comparison {
  double max_abs_err = 0;
  double max_abs_ref = 0;
  double normalized = 0;  // max_abs_err / max_abs_ref
  std::int64_t worst_index = -1;
  std::string mismatch;  // non-empty for shape or non-finite disagreements
};

// Element-wise comparison of two CPU tensors (any dtypes), NaN-aware.
Comparison compare(const Tensor& got, const Tensor& ref);

}  // namespace wma::test
