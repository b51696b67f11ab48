// Implementation of the CUDA test helpers (fixture, random inputs, guarded allocator).
#include "cuda_test_util.h"

#include <cuda_runtime.h>

#include <cmath>

#include "backends/backend.h"

namespace wma::test {

void CudaTest::SetUp() {
  ASSERT_TRUE(cuda::available()) << "no CUDA GPU found: the tests labelled `cuda` need one (run `ctest -LE cuda` "
                                    "on machines without a GPU)";
  ASSERT_NO_THROW(cuda::init());
}

Tensor Rng::normal(const Shape& shape, float scale, float shift) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(shape_numel(shape)));
  for (auto& x : v) x = d(gen_) * scale + shift;
  return Tensor::from_floats(shape, v);
}

Tensor Rng::uniform(const Shape& shape, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<std::size_t>(shape_numel(shape)));
  for (auto& x : v) x = d(gen_);
  return Tensor::from_floats(shape, v);
}

std::int64_t Rng::integer(std::int64_t lo, std::int64_t hi) {
  return std::uniform_int_distribution<std::int64_t>(lo, hi)(gen_);
}

std::shared_ptr<Storage> GuardedAllocator::allocate(std::size_t bytes) {
  auto outer = backing_.allocate(kFrontGuard + bytes + kBackGuard);
  char* base = static_cast<char*>(outer->data);
  if (cudaMemset(base, kGuardByte, kFrontGuard) != cudaSuccess ||
      cudaMemset(base + kFrontGuard, 0xff, bytes) != cudaSuccess ||
      cudaMemset(base + kFrontGuard + bytes, kGuardByte, kBackGuard) != cudaSuccess ||
      cudaDeviceSynchronize() != cudaSuccess)
    fail("[test] cudaMemset of a guarded block failed");
  auto inner = std::make_shared<Storage>();
  inner->data = base + kFrontGuard;
  inner->bytes = bytes;
  inner->device = outer->device;
  inner->owner = outer;
  blocks_.push_back({outer, bytes});
  return inner;
}

std::vector<std::string> GuardedAllocator::damaged() const {
  std::vector<std::string> out;
  if (cudaDeviceSynchronize() != cudaSuccess) {
    out.push_back("cudaDeviceSynchronize failed before the guard check");
    return out;
  }
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    const auto& b = blocks_[i];
    std::vector<unsigned char> front(kFrontGuard), back(kBackGuard);
    const char* base = static_cast<const char*>(b.outer->data);
    cudaMemcpy(front.data(), base, kFrontGuard, cudaMemcpyDeviceToHost);
    cudaMemcpy(back.data(), base + kFrontGuard + b.bytes, kBackGuard, cudaMemcpyDeviceToHost);
    std::size_t bad_front = 0, bad_back = 0;
    for (auto c : front) bad_front += c != kGuardByte;
    for (auto c : back) bad_back += c != kGuardByte;
    if (bad_front || bad_back)
      out.push_back(str_cat("block ", i, " (", b.bytes, " bytes): ", bad_front, " bytes before it and ", bad_back,
                            " bytes after it were overwritten"));
  }
  return out;
}

Comparison compare(const Tensor& got, const Tensor& ref) {
  Comparison c;
  if (got.shape() != ref.shape()) {
    c.mismatch = str_cat("shape ", shape_str(got.shape()), " vs reference ", shape_str(ref.shape()));
    return c;
  }
  const std::vector<float> g = got.to_floats(), r = ref.to_floats();
  for (std::size_t i = 0; i < g.size(); ++i) {
    if (!std::isfinite(r[i])) {
      const bool same = (std::isnan(r[i]) && std::isnan(g[i])) || g[i] == r[i];
      if (!same && c.mismatch.empty()) c.mismatch = str_cat("element ", i, ": got ", g[i], ", reference ", r[i]);
      continue;
    }
    c.max_abs_ref = std::max(c.max_abs_ref, static_cast<double>(std::fabs(r[i])));
    if (!std::isfinite(g[i])) {
      if (c.mismatch.empty())
        c.mismatch = str_cat("element ", i, ": got ", g[i], " (unwritten or overflow), reference ", r[i]);
      continue;
    }
    const double e = std::fabs(static_cast<double>(g[i]) - static_cast<double>(r[i]));
    if (e > c.max_abs_err) {
      c.max_abs_err = e;
      c.worst_index = static_cast<std::int64_t>(i);
    }
  }
  c.normalized = c.max_abs_err / std::max(c.max_abs_ref, 1e-12);
  return c;
}

}  // namespace wma::test
