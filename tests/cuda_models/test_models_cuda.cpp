// CUDA parity of every model module: the fixture inputs of tests/fixtures/*.safetensors (upstream's
// outputs with deterministic weights, tiny config) run on the CUDA backend with weights stored in
// f32, f16 and bf16, compared with upstream's f32 outputs by max|gpu - ref| / max|ref|. One line per
// (module, output, dtype) starting with `[parity]`.
//
// Tolerances, stated before any GPU run and not tuned to one:
// - f32: 1e-4. The backend computes f32 without TF32, so only the summation order differs from
//   the CPU reference (which matches upstream to <= 5e-6, docs/models.md).
// - f16 / bf16: 4 u sqrt(D), u the unit roundoff (f16 2^-11, bf16 2^-8) and D the number of
//   16-bit roundings of activations on the module's longest path (the estimates below). 4u is the
//   single-op tolerance of tests/cuda/test_backend_ops.cpp; independent roundings along a residual
//   stream add in quadrature, hence sqrt(D). f32 statistics, softmax and accumulation (design.md
//   section 4) keep the per-op error near u.
//
// Inputs are built on the host and moved with ops::to_device: the sampler state and raw
// observations (images, states, actions, latents) in f32 as the pipeline passes them, inputs that
// are another module's output (CLIP tokens, the context, the action token) in the weights' dtype.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "backends/backend.h"
#include "models/clip_text.h"
#include "models/clip_vision.h"
#include "models/projectors.h"
#include "models/resampler.h"
#include "models/sa_token_projector.h"
#include "models/vae.h"
#include "models/wma_model.h"
#include "ops/ops.h"
#include "util/model_test_util.h"

namespace wma::models {
namespace {

using test::channels_last;

// D, 16-bit roundings on the longest path at the tiny config (tests/fixtures/configs/tiny.yaml).
// A transformer block counts about 10 (norm, projections, scores, probabilities, output, residual
// add, two FF linears, add), a ResnetBlock 5, a UNet ResBlock with its temporal convs 15.
constexpr int kDepthProjectors = 3;         // Linear+GELU, Linear, + pos_emb
constexpr int kDepthSATokenProjector = 12;  // 1 Perceiver layer + proj_out, norm_out
constexpr int kDepthResampler = 23;         // proj_in + 2 Perceiver layers + proj_out, norm_out
constexpr int kDepthClipText = 22;          // embedding + the 2 blocks run + ln_final
constexpr int kDepthClipVision = 33;        // conv1, class/pos embedding, ln_pre + 3 blocks
constexpr int kDepthVaeEncoder = 46;        // conv_in, 4 ResnetBlocks, 3 downsamples, mid 16, out, quant_conv
constexpr int kDepthVaeDecoder = 66;        // post_quant_conv, conv_in, mid 16, 8 ResnetBlocks, 3 upsamples, out
// 22 ResBlocks of 15; 11 of them (the two attention levels and the middle) are followed by a
// spatial (21) and a temporal (20) transformer; plus init_attn, embeddings, resampling and out.
constexpr int kDepthUNet = 820;
constexpr int kDepthHeads = 890;  // the UNet's deepest hs_a + ConditionalUnet1D (about 70)

double unit_roundoff(DType dtype) { return dtype == DType::F16 ? 0x1p-11 : 0x1p-8; }

double tolerance(DType dtype, int depth) {
  if (dtype == DType::F32) return 1e-4;
  return 4.0 * unit_roundoff(dtype) * std::sqrt(static_cast<double>(depth));
}

Tensor on_gpu(const Tensor& host) { return ops::to_device(host, Device::CUDA); }
Tensor on_gpu(const Tensor& host, DType dtype) { return ops::to_device(ops::cast(host, dtype), Device::CUDA); }
Tensor host_f32(const Tensor& t) { return ops::cast(ops::to_device(t, Device::CPU), DType::F32); }

class ModelsCuda : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override { cuda::init(); }  // throws (the test fails, never skips) without a GPU
  DType dtype() const { return GetParam(); }
  nn::LoadOptions options() const { return nn::LoadOptions{Device::CUDA, GetParam()}; }

  void check(const std::string& module, const std::string& output, int depth, const Tensor& got,
             const Tensor& expected) const {
    const double tol = tolerance(dtype(), depth);
    const double err = test::relative_error(host_f32(got), expected);
    const std::string name(dtype_name(dtype()));
    std::printf("[parity] %-18s %-18s %-5s max rel err %.3e  tolerance %.1e  %s\n", module.c_str(), output.c_str(),
                name.c_str(), err, tol, err <= tol ? "ok" : "FAIL");
    EXPECT_LE(err, tol) << module << " " << output << " " << name;
  }
};

TEST_P(ModelsCuda, Vae) {
  const io::WeightStore fx = test::load_fixture("vae.safetensors");
  const AutoencoderKLConfig& config = test::tiny_config().vae;
  const AutoencoderKL vae(test::deterministic_store<AutoencoderKL>(config), config, options());

  const Tensor video = channels_last(fx.load("input.video"));  // [B, T, H, W, 3]
  const Shape s = video.shape();
  const DiagonalGaussian posterior = vae.encode(on_gpu(video.reshape({s[0] * s[1], s[2], s[3], s[4]})));
  check("vae", "posterior_mean", kDepthVaeEncoder, posterior.mean, channels_last(fx.load("output.posterior_mean")));
  check("vae", "posterior_logvar", kDepthVaeEncoder, posterior.logvar,
        channels_last(fx.load("output.posterior_logvar")));

  std::vector<Tensor> draws;  // one CPU draw [1, h, w, 4] per frame, in frame order
  for (std::int64_t i = 0; i < s[0] * s[1]; ++i)
    draws.push_back(channels_last(fx.load("noise.posterior." + std::to_string(i))));
  const Tensor noise = ops::concat(draws, 0);
  const Tensor z =
      vae.encode_first_stage(on_gpu(video),
                             on_gpu(noise.reshape({s[0], s[1], noise.size(1), noise.size(2), noise.size(3)})));
  check("vae", "encode_first_stage", kDepthVaeEncoder, z, channels_last(fx.load("output.z")));

  const Tensor decoded = vae.decode_first_stage(on_gpu(channels_last(fx.load("input.decode_z"))), 1);
  check("vae", "decode_first_stage", kDepthVaeDecoder, decoded, channels_last(fx.load("output.decoded")));
}

TEST_P(ModelsCuda, ClipText) {
  const io::WeightStore fx = test::load_fixture("clip_text.safetensors");
  const ClipTextConfig& config = test::tiny_config().text;
  const std::string prefix = "cond_stage_model.model.";
  const ClipTextEncoder encoder(test::deterministic_store<ClipTextEncoder>(config, prefix), config, options(), prefix);
  const Tensor tokens = fx.load("input.tokens");
  std::vector<Tensor> rows;
  for (std::int64_t i : fx.load("input.output_prompt_index").to_ints()) rows.push_back(tokens.slice(0, i, i + 1));
  // Token ids stay on the host (ClipTextEncoder's contract: the embedding gather reads them there).
  check("clip_text", "z", kDepthClipText, encoder(ops::concat(rows, 0)), fx.load("output.z"));
}

TEST_P(ModelsCuda, ClipVision) {
  const io::WeightStore fx = test::load_fixture("clip_vision.safetensors");
  const ClipVisionConfig& config = test::tiny_config().vision;
  const ClipImageEmbedder embedder(test::deterministic_store<ClipImageEmbedder>(config), config, options());
  for (const std::string name : {"real", "tiny"}) {
    const Tensor tokens = embedder(on_gpu(channels_last(fx.load("input.image_" + name))));
    check("clip_vision", "tokens_" + name, kDepthClipVision, tokens, fx.load("output.tokens_" + name));
  }
}

TEST_P(ModelsCuda, Resampler) {
  const io::WeightStore fx = test::load_fixture("resampler.safetensors");
  const ResamplerConfig& config = test::tiny_config().resampler;
  const Resampler resampler(test::deterministic_store<Resampler>(config), config, options());
  check("resampler", "tokens", kDepthResampler, resampler(on_gpu(fx.load("input.clip_tokens"), dtype())),
        fx.load("output.tokens"));
}

TEST_P(ModelsCuda, Projectors) {
  const io::WeightStore fx = test::load_fixture("projectors.safetensors");
  const AgentProjectorsConfig& config = test::tiny_config().projectors;
  const AgentProjectors projectors(test::deterministic_store<AgentProjectors>(config), config, options());
  // In the weights' dtype: AgentProjectors does not cast its input (see SamplerStateInF32 below).
  check("projectors", "state_emb", kDepthProjectors, projectors.embed_states(on_gpu(fx.load("input.state"), dtype())),
        fx.load("output.state_emb"));
  check("projectors", "action_emb", kDepthProjectors,
        projectors.embed_actions(on_gpu(fx.load("input.action"), dtype())), fx.load("output.action_emb"));
}

TEST_P(ModelsCuda, SATokenProjector) {
  const io::WeightStore fx = test::load_fixture("projectors.safetensors");
  const SATokenProjectorConfig& config = test::tiny_config().diffusion.action_token_projector;
  const SATokenProjector projector(test::deterministic_store<SATokenProjector>(config), config, options());
  check("sa_token_projector", "sa_tokens", kDepthSATokenProjector,
        projector(on_gpu(fx.load("input.sa_token"), dtype())), fx.load("output.sa_tokens"));
}

// The step inputs of a wma_* fixture on the GPU: sampler state in f32, `action_dtype` for the
// action/state samples (see SamplerStateInF32 below), the context in the weights' dtype.
struct GpuStep {
  Tensor xc, x, x_action, x_state, t;
  WMAConditioning conditioning;
};

GpuStep gpu_step(const test::WmaStepInputs& in, DType weights, DType action_dtype) {
  GpuStep g;
  g.xc = on_gpu(in.xc);
  g.x = on_gpu(in.x);
  g.x_action = on_gpu(in.x_action, action_dtype);
  g.x_state = on_gpu(in.x_state, action_dtype);
  g.t = on_gpu(in.t);
  g.conditioning.context = on_gpu(in.conditioning.context, weights);
  g.conditioning.c_concat = on_gpu(in.conditioning.c_concat);
  g.conditioning.fs = on_gpu(in.conditioning.fs);
  g.conditioning.obs_images = on_gpu(in.conditioning.obs_images);
  g.conditioning.obs_state = on_gpu(in.conditioning.obs_state);
  return g;
}

TEST_P(ModelsCuda, WMAModelDenoise) {
  const WMAModelConfig& config = test::tiny_config().diffusion;
  const WMAModel model(test::deterministic_store<WMAModel>(config), config, options());
  for (const std::string pass_name : {"wma_policy", "wma_world"}) {
    const io::WeightStore fx = test::load_fixture(pass_name + ".safetensors");
    const GpuStep step = gpu_step(test::wma_step_inputs(fx), dtype(), dtype());
    const WMAPass pass = model.prepare(step.conditioning);

    const UNetOutput unet = model.unet().forward(step.xc, step.t, pass.unet);
    ASSERT_EQ(unet.hs_a.size(), 9u);
    for (std::size_t i = 0; i < unet.hs_a.size(); ++i) {
      const std::string key = "hs_a." + std::to_string(i);
      check(pass_name, key, kDepthUNet, host_f32(unet.hs_a[i]).permute({0, 1, 4, 2, 3}), fx.load("output." + key));
    }
    const WMADenoised out = model.denoise(step.x, step.x_action, step.x_state, step.t, pass);
    check(pass_name, "v", kDepthUNet, host_f32(out.v).permute({0, 4, 1, 2, 3}), fx.load("output.v"));
    check(pass_name, "action_eps", kDepthHeads, out.action_eps, fx.load("output.action_eps"));
    check(pass_name, "state_eps", kDepthHeads, out.state_eps, fx.load("output.state_eps"));
  }
}

// design.md section 4 keeps the sampler state (actions, states) and the raw observations in f32,
// and the pipeline passes them so (pipeline/synthesis.cpp); the modules must accept them at every
// weight dtype. The parity tests above feed the weights' dtype where a module does not cast, so
// that this contract is checked here on its own.
TEST_P(ModelsCuda, SamplerStateInF32) {
  const WmaConfig& config = test::tiny_config();
  const AgentProjectors projectors(test::deterministic_store<AgentProjectors>(config.projectors), config.projectors,
                                   options());
  const io::WeightStore proj_fx = test::load_fixture("projectors.safetensors");
  EXPECT_NO_THROW(projectors.embed_states(on_gpu(proj_fx.load("input.state"))));
  EXPECT_NO_THROW(projectors.embed_actions(on_gpu(proj_fx.load("input.action"))));

  const WMAModel model(test::deterministic_store<WMAModel>(config.diffusion), config.diffusion, options());
  const GpuStep step =
      gpu_step(test::wma_step_inputs(test::load_fixture("wma_policy.safetensors")), dtype(), DType::F32);
  const WMAPass pass = model.prepare(step.conditioning);
  EXPECT_NO_THROW(model.denoise(step.x, step.x_action, step.x_state, step.t, pass));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, ModelsCuda, ::testing::Values(DType::F32, DType::F16, DType::BF16),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(dtype_name(info.param));
                         });

}  // namespace
}  // namespace wma::models
