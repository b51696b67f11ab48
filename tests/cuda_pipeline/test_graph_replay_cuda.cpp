// Replayed CUDA graphs (pipeline/graph_replay.h) compute what the eager ops compute, bit for bit: the same
// kernels and plans run, only the launches are recorded. Checked on a small op chain and on the VAE decode of
// the demo model (pipeline/video_decoder.h) at every weight dtype.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "backends/backend.h"
#include "ops/ops.h"
#include "pipeline/demo.h"
#include "pipeline/graph_replay.h"
#include "pipeline/video_decoder.h"
#include "pipeline/world_model.h"

namespace wma::pipeline {
namespace {

Tensor host(const Tensor& t) { return ops::to_device(t, Device::CPU); }

bool bit_equal(const Tensor& a, const Tensor& b) {
  const Tensor x = ops::contiguous(host(a)), y = ops::contiguous(host(b));
  return x.shape() == y.shape() && x.dtype() == y.dtype() && std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) == 0;
}

Tensor seeded(const Shape& shape, float seed) {
  Tensor t = Tensor::empty(shape, DType::F32, Device::CPU);
  float* p = t.data<float>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = std::sin(seed + 0.37f * static_cast<float>(i));
  return t;
}

class GraphReplayCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    cuda::init();
    if (!cuda_graphs_enabled()) GTEST_SKIP() << "WMA_CUDA_GRAPHS=0: nothing is captured";
  }
};

TEST_F(GraphReplayCuda, ReplaysMatchEagerRunsAndFollowNewInputs) {
  const Tensor in = Tensor::empty({3, 257}, DType::F32, Device::CUDA);
  Tensor out;
  GraphReplay graph(Device::CUDA, true, std::size_t{1} << 20, "test");
  for (int run = 0; run < 4; ++run) {
    const Tensor x = seeded({3, 257}, static_cast<float>(run));
    ops::copy_into(in, ops::to_device(x, Device::CUDA));
    graph.run([&] {
      out = {};
      out = ops::axpby(2.0f, ops::scale(in, 0.5f), -1.0f, in);
    });
    EXPECT_EQ(graph.replaying(), run >= 1) << "run " << run;
    const Tensor x_gpu = ops::to_device(x, Device::CUDA);
    EXPECT_TRUE(bit_equal(out, ops::axpby(2.0f, ops::scale(x_gpu, 0.5f), -1.0f, x_gpu))) << "run " << run;
  }
}

// The large GroupNorms take two launches, the second a programmatic dependent of the first on sm_90
// (backends/cuda/norm.cu); the pair must capture and replay like any other launch.
TEST_F(GraphReplayCuda, SplitGroupNormReplays) {
  for (const DType dtype : {DType::F16, DType::BF16}) {
    const Tensor in = Tensor::empty({1, 40960, 320}, dtype, Device::CUDA);
    const Tensor weight = ops::to_device(seeded({320}, 3.0f), Device::CUDA);
    const Tensor bias = ops::to_device(seeded({320}, 4.0f), Device::CUDA);
    Tensor out;
    GraphReplay graph(Device::CUDA, true, std::size_t{64} << 20, "test");
    for (int run = 0; run < 3; ++run) {
      const Tensor x = ops::to_device(ops::cast(seeded({1, 40960, 320}, static_cast<float>(run)), dtype), Device::CUDA);
      ops::copy_into(in, x);
      graph.run([&] {
        out = {};
        out = ops::group_norm(in, 32, &weight, &bias, 1e-6f, ops::Activation::SiLU);
      });
      EXPECT_EQ(graph.replaying(), run >= 1) << "run " << run;
      EXPECT_TRUE(bit_equal(out, ops::group_norm(x, 32, &weight, &bias, 1e-6f, ops::Activation::SiLU)))
          << "run " << run << " " << dtype_name(dtype);
    }
  }
}

class VideoDecoderCuda : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    cuda::init();
    if (!cuda_graphs_enabled()) GTEST_SKIP() << "WMA_CUDA_GRAPHS=0: nothing is captured";
  }
};

TEST_P(VideoDecoderCuda, GraphedDecodeEqualsEagerDecode) {
  const WorldModelConfig config = demo_config();
  const WorldModel model(deterministic_world_model_store(config), config, nn::LoadOptions{Device::CUDA, GetParam()});
  const Shape latent_shape{1, 16, config.latent_height, config.latent_width, config.latent_channels};
  VideoDecoder decoder(model.vae, Device::CUDA, config.perframe_ae);
  ASSERT_TRUE(config.perframe_ae);
  for (int video = 0; video < 2; ++video) {
    const Tensor latent = ops::to_device(seeded(latent_shape, 10.0f * video), Device::CUDA);
    const Tensor graphed = decoder(latent);
    const Tensor eager = model.vae.decode_first_stage(latent, 1);
    EXPECT_TRUE(bit_equal(graphed, eager))
        << "video " << video << " " << graphed.describe() << " vs " << eager.describe();
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, VideoDecoderCuda, ::testing::Values(DType::F32, DType::F16, DType::BF16),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(dtype_name(info.param));
                         });

}  // namespace
}  // namespace wma::pipeline
