// CUDA memory behaviour the engine relies on: cross-device copies are exact for every dtype,
// the arena hands out the same addresses after each reset, and a step of ops launched on the
// engine stream can be captured into a CUDA graph and replayed with identical results.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "backends/backend.h"
#include "backends/cuda/context.h"
#include "core/allocator.h"
#include "cuda_test_util.h"
#include "ops/ops.h"

namespace wma::test {
namespace {

class CudaMemory : public CudaTest {};

std::vector<unsigned char> bytes_of(const Tensor& t) {
  std::vector<unsigned char> b(t.nbytes());
  std::memcpy(b.data(), t.data_ptr(), b.size());
  return b;
}

TEST_F(CudaMemory, CopyAcrossDevicesIsExactForEveryDtype) {
  for (DType dt : {DType::F32, DType::F16, DType::BF16, DType::I32, DType::I64}) {
    SCOPED_TRACE(std::string(dtype_name(dt)));
    Tensor host = Tensor::empty({3, 5, 7}, dt, Device::CPU);
    auto* p = static_cast<unsigned char*>(host.data_ptr());
    for (std::size_t i = 0; i < host.nbytes(); ++i) p[i] = static_cast<unsigned char>((i * 131 + 7) & 0xff);
    Tensor dev = Tensor::empty(host.shape(), dt, Device::CUDA);
    cuda::copy_across_devices(dev, host);
    Tensor dev2 = Tensor::empty(host.shape(), dt, Device::CUDA);
    cuda::copy_across_devices(dev2, dev);
    Tensor back = Tensor::empty(host.shape(), dt, Device::CPU);
    cuda::copy_across_devices(back, dev2);
    EXPECT_EQ(bytes_of(back), bytes_of(host));
  }
}

TEST_F(CudaMemory, CopyAcrossDevicesRejectsMismatches) {
  Tensor host = Tensor::zeros({4, 6});
  Tensor dev = Tensor::empty({4, 6}, DType::F32, Device::CUDA);
  EXPECT_THROW(cuda::copy_across_devices(dev, Tensor::zeros({6, 4})), Error);
  EXPECT_THROW(cuda::copy_across_devices(dev.transpose(0, 1), host.transpose(0, 1)), Error);
  EXPECT_THROW(cuda::copy_across_devices(Tensor::empty({4, 6}, DType::F16, Device::CUDA), host), Error);
  EXPECT_THROW(cuda::copy_across_devices(Tensor::zeros({4, 6}), host), Error);
}

TEST_F(CudaMemory, ToDeviceRoundTripOfAStridedView) {
  Tensor host = Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor dev = ops::to_device(host.transpose(0, 1), Device::CUDA);
  EXPECT_EQ(dev.device(), Device::CUDA);
  EXPECT_EQ(ops::to_device(dev, Device::CPU).to_floats(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

// The sentinel machinery the op table relies on must itself notice an overrun.
TEST_F(CudaMemory, GuardedAllocatorDetectsOverrunAndPoisons) {
  GuardedAllocator guarded(current_allocator(Device::CUDA));
  Tensor t;
  {
    ScopedAllocator scope(guarded);
    t = Tensor::empty({10}, DType::F32, Device::CUDA);
  }
  EXPECT_TRUE(std::isnan(ops::to_device(t, Device::CPU).to_floats()[3]));
  EXPECT_TRUE(guarded.damaged().empty());
  const float eleven[11] = {};
  ASSERT_EQ(cudaMemcpy(t.data_ptr(), eleven, sizeof(eleven), cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(guarded.damaged().size(), 1u);
}

TEST_F(CudaMemory, ArenaAddressesRepeatAfterReset) {
  Arena arena(current_allocator(Device::CUDA), 1 << 20);
  std::vector<const void*> first, second;
  for (int round = 0; round < 2; ++round) {
    auto& seen = round == 0 ? first : second;
    ScopedAllocator scope(arena);
    for (Shape s : {Shape{17}, Shape{3, 33}, Shape{1}, Shape{64, 64}}) {
      Tensor t = Tensor::empty(s, DType::F16, Device::CUDA);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data_ptr()) % kTensorAlignment, 0u);
      seen.push_back(t.data_ptr());
    }
    arena.reset();
  }
  EXPECT_EQ(first, second);
  EXPECT_GT(arena.peak(), 0u);
  EXPECT_EQ(arena.used(), 0u);
}

TEST_F(CudaMemory, ArenaTensorsComputeCorrectlyAndOverflowThrows) {
  Arena arena(current_allocator(Device::CUDA), 64 * 1024);
  Tensor a = Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = Tensor::from_floats({1, 3}, {10, 20, 30});
  {
    ScopedAllocator scope(arena);
    Tensor da = ops::to_device(a, Device::CUDA), db = ops::to_device(b, Device::CUDA);
    Tensor sum = ops::add(da, db);
    EXPECT_EQ(ops::to_device(sum, Device::CPU).to_floats(), (std::vector<float>{11, 22, 33, 14, 25, 36}));
    EXPECT_THROW(Tensor::empty({1 << 20}, DType::F32, Device::CUDA), Error);
  }
  arena.reset();
}

// One "step": linear with bias, GroupNorm + SiLU, attention, residual add; activations in an
// arena. Captured on the engine stream after a warm-up run (which creates cuBLASLt plans).
Tensor run_step(const Tensor& x, const Tensor& w, const Tensor& bias) {
  Tensor h = ops::linear(x, w, &bias);
  Tensor n = ops::group_norm(h, 4, nullptr, nullptr, 1e-5f, ops::Activation::SiLU);
  Tensor q = n.reshape({2, 24, 2, 16});
  Tensor a = ops::attention(q, q, q, nullptr, 0.25f).reshape({2, 24, 32});
  return ops::add(a, x);
}

TEST_F(CudaMemory, StepCapturesIntoACudaGraph) {
  Rng rng(7);
  Tensor x = ops::to_device(ops::cast(rng.normal({2, 24, 32}), DType::F16), Device::CUDA);
  Tensor w = ops::to_device(ops::cast(rng.normal({32, 32}, 0.2f), DType::F16), Device::CUDA);
  Tensor bias = ops::to_device(ops::cast(rng.normal({32}), DType::F16), Device::CUDA);
  Arena arena(current_allocator(Device::CUDA), 4 << 20);
  std::vector<float> eager;
  {
    ScopedAllocator scope(arena);
    eager = ops::to_device(run_step(x, w, bias), Device::CPU).to_floats();
  }
  arena.reset();
  cudaStream_t s = cuda::stream();
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  Tensor out;
  {
    ScopedAllocator scope(arena);
    ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    try {
      out = run_step(x, w, bias);
    } catch (const Error& e) {
      cudaStreamEndCapture(s, &graph);
      FAIL() << "op failed under capture: " << e.what();
    }
    ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
  }
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ops::fill(out, 0.0f);
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  cuda::synchronize();
  EXPECT_EQ(ops::to_device(out, Device::CPU).to_floats(), eager);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
}

}  // namespace
}  // namespace wma::test
