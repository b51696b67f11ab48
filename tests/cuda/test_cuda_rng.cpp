// torch.randn on the GPU (backends/cuda/torch_rng.cu) against the CPU emulation of the same stream
// (core/rng.h, itself checked against recorded torch draws in tests/rng): bit for bit, for the pipeline's
// shapes, odd sizes and a run of calls that moves the Philox offset.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "backends/backend.h"
#include "core/rng.h"
#include "ops/ops.h"

namespace wma::test {
namespace {

TEST(CudaTorchRandn, MatchesTheCpuEmulationBitForBit) {
  cuda::init();
  TorchCudaGenerator reference(cuda::sm_count(), cuda::max_threads_per_sm());
  reference.manual_seed(123);
  std::uint64_t offset = 0;
  for (const Shape& shape :
       std::vector<Shape>{{1, 4, 16, 40, 64}, {1, 16, 16}, {7}, {100001}, {3, 1000, 91}, {1, 4, 16, 40, 64}}) {
    const CudaLaunch launch = reference.launch_for(shape_numel(shape));
    Tensor gpu = Tensor::empty(shape, DType::F32, Device::CUDA);
    cuda::torch_randn(gpu, 123, offset, launch.blocks, launch.threads_per_block);
    offset += launch.offset_increment;
    const std::vector<float> expected = reference.randn(shape).to_floats();
    const std::vector<float> got = ops::to_device(gpu, Device::CPU).to_floats();
    ASSERT_EQ(got.size(), expected.size());
    EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)), 0)
        << "shape " << shape_str(shape) << " differs";
    EXPECT_EQ(reference.philox_offset(), offset);
  }
}

}  // namespace
}  // namespace wma::test
