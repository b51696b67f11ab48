// One policy and one world-model sampling pass end to end (pipeline/synthesis.h) against upstream's
// image_guided_synthesis_sim_mode with recorded noise (tests/fixtures/e2e_{policy,world}_n{4,50}.safetensors).
#include <gtest/gtest.h>

#include <cstdio>
#include <random>

#include "io/weight_store.h"
#include "pipeline/synthesis.h"
#include "pipeline_test_util.h"
#include "sampling/ddim_sampler.h"

namespace wma::pipeline {
namespace {

constexpr double kTolerance = 1e-4;

struct FixturePass {
  io::WeightStore fx;
  RecordedNoise noise;
  Synthesizer synth;
  PassInput in;
};

FixturePass open_pass(const std::string& name, bool sim_mode, int ddim_steps) {
  const std::filesystem::path path = test::source_dir() / "tests/fixtures" / (name + ".safetensors");
  const test::TinyModel& tiny = test::tiny_model();
  PassOptions options;
  options.ddim_steps = ddim_steps;
  options.ddim_eta = 1.0;
  options.timestep_spacing = sampling::TimestepSpacing::UniformTrailing;
  FixturePass p{io::WeightStore::open(path.string()),
                RecordedNoise(path.string()),
                Synthesizer(tiny.model, tiny.tokenizer, options),
                {}};
  p.noise.append_pass(p.fx);
  p.in.obs_images = ops::contiguous(p.fx.load("input.observation.images.top").permute({0, 2, 3, 4, 1}));
  p.in.obs_state = p.fx.load("input.observation.state");
  p.in.action = p.fx.load("input.action");
  p.in.prompt = sim_mode ? "" : "Pack black camera into box.";  // the fixture's metadata `prompt`
  p.in.sim_mode = sim_mode;
  p.in.fs = p.fx.load("input.fs").to_ints()[0];
  return p;
}

double check(const std::string& name, const std::string& key, const Tensor& value, const Tensor& expected,
             bool asserted = true) {
  const double err = test::relative_error(value, expected);
  std::printf("[%s] %s %s: max rel err %.3g\n", name.c_str(), key.c_str(), shape_str(value.shape()).c_str(), err);
  if (asserted) EXPECT_LE(err, kTolerance) << name << " " << key;
  return err;
}

// The 50-step passes assert the latent; their actions and states are printed only. The heads' chain amplifies
// any last-bit difference of their outputs through 50 clipped DDIM steps of this random-weight model: in
// upstream itself, one ulp more on every step's eps moves the 50-step actions by 3.7e-3 and the states by 1.6e-4
// (docs/fixtures.md, tools/reference/head_chain_sensitivity.py), so only a bit-exact port could meet 1e-4 there.
// What the chain is made of is asserted instead: the model on upstream's inputs at three steps of the 50-step
// path (ModelAt50StepProbes) and every scheduler step bit for bit (tests/sampling ScheduleFixture).
void check_pass(const std::string& name, bool sim_mode, int ddim_steps) {
  WMA_REQUIRE_BPE();
  FixturePass p = open_pass(name, sim_mode, ddim_steps);
  int steps = 0;
  const PassOutput out = p.synth.run(p.in, p.noise, nullptr, [&] { ++steps; });
  EXPECT_EQ(steps, ddim_steps);
  EXPECT_EQ(p.noise.remaining_cpu(), 0u);
  EXPECT_EQ(p.noise.remaining_cuda(), 0u);
  const bool long_run = ddim_steps > 4;
  check(name, "output.latent", out.latent.permute({0, 4, 1, 2, 3}), p.fx.load("output.latent"));
  if (!long_run) check(name, "output.video", out.video.permute({0, 4, 1, 2, 3}), p.fx.load("output.video"));
  check(name, "output.actions", out.actions, p.fx.load("output.actions"), !long_run);
  check(name, "output.states", out.states, p.fx.load("output.states"), !long_run);
}

// One denoiser call on upstream's own inputs at each probe step (probe.*) of a 50-step pass.
void check_probes(const std::string& name, bool sim_mode, int ddim_steps) {
  FixturePass p = open_pass(name, sim_mode, ddim_steps);
  const WorldModel& model = p.synth.model();
  const models::WMAPass pass = model.diffusion.prepare(p.synth.condition(p.in, p.noise));
  const std::vector<std::int64_t> probe_steps = p.fx.load("probe.step").to_ints();
  const std::vector<std::int64_t> timesteps = p.fx.load("probe.t").to_ints();
  ASSERT_EQ(probe_steps.size(), 3u);
  for (std::size_t j = 0; j < probe_steps.size(); ++j) {
    const auto k = static_cast<std::int64_t>(j);
    const std::string at = "step " + std::to_string(probe_steps[j]) + " (t " + std::to_string(timesteps[j]) + ")";
    const Tensor x = ops::contiguous(p.fx.load("probe.x").select(0, k).permute({0, 2, 3, 4, 1}));
    const models::WMADenoised out =
        model.diffusion.denoise(x, p.fx.load("probe.action").select(0, k), p.fx.load("probe.state").select(0, k),
                                Tensor::from_ints({1}, {timesteps[j]}), pass);
    check(name, "probe.v " + at, out.v.permute({0, 4, 1, 2, 3}), p.fx.load("probe.v").select(0, k));
    check(name, "probe.action_eps " + at, out.action_eps, p.fx.load("probe.action_eps").select(0, k));
    check(name, "probe.state_eps " + at, out.state_eps, p.fx.load("probe.state_eps").select(0, k));
  }
}

TEST(SynthesisFixture, PolicyPassMatchesUpstream) { check_pass("e2e_policy_n4", false, 4); }
TEST(SynthesisFixture, WorldModelPassMatchesUpstream) { check_pass("e2e_world_n4", true, 4); }
TEST(SynthesisFixture, PolicyPass50StepsMatchesUpstream) { check_pass("e2e_policy_n50", false, 50); }
TEST(SynthesisFixture, WorldModelPass50StepsMatchesUpstream) { check_pass("e2e_world_n50", true, 50); }
TEST(SynthesisFixture, ModelAt50StepProbes) {
  WMA_REQUIRE_BPE();
  check_probes("e2e_policy_n50", false, 50);
  check_probes("e2e_world_n50", true, 50);
}

// The ops-based step equals the CPU reference bit for bit, on every step of a 50-step schedule.
TEST(DdimUpdate, EqualsCpuReferenceBitForBit) {
  const sampling::VideoSchedule schedule = sampling::make_video_schedule({});
  const sampling::DdimSchedule ddim =
      sampling::make_ddim_schedule(schedule, sampling::TimestepSpacing::UniformTrailing, 50, 1.0);
  PhiloxNoise gen(7);
  const Shape shape = {1, 16, 4, 4, 4};
  Tensor x = gen.randn_cuda(shape);
  for (int i = ddim.num_steps() - 1; i >= 0; --i) {
    const sampling::DdimStepCoefficients c = sampling::ddim_step_coefficients(schedule, ddim, i);
    const Tensor v = gen.randn_cuda(shape), noise = gen.randn_cuda(shape);
    const Tensor ours = sampling::ddim_v_update(c, x, v, noise);
    const Tensor reference = sampling::ddim_v_step(c, x, v, noise);
    ASSERT_EQ(ours.to_floats(), reference.to_floats()) << "step " << i;
    x = ours;
  }
}

// The heads' step as one op equals the scheduler's CPU reference bit for bit, dividing or multiplying.
TEST(DiffusersDdim, StepOpMatchesReferenceBitForBit) {
  const auto sch = sampling::make_diffusers_ddim_scheduler({}, 50);
  std::mt19937 gen(11);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> eps(256), sample(256);
  for (auto& v : eps) v = normal(gen);
  for (auto& v : sample) v = normal(gen);
  const Tensor eps_t = Tensor::from_floats({1, 16, 16}, eps), sample_t = Tensor::from_floats({1, 16, 16}, sample);
  for (const auto div : {sampling::ScalarDivision::Divide, sampling::ScalarDivision::MultiplyByReciprocal})
    for (const std::int64_t t : {999, 519, 19}) {
      const auto c = sampling::diffusers_ddim_step_coefficients(sch, t);
      EXPECT_EQ(ops::eps_ddim_step(eps_t, sample_t, sampling::eps_ddim_step_op(c, div)).to_floats(),
                sampling::diffusers_ddim_step(c, eps, sample, div))
          << "t " << t;
    }
}

TEST(RecordedNoise, RefusesWrongShapesAndExhaustion) {
  RecordedNoise noise("test");
  try {
    noise.randn_cpu({1, 4, 8, 8});
    FAIL() << "empty source served a draw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CPU stream has only 0 draws"), std::string::npos) << e.what();
  }
}

TEST(PhiloxNoise, KnownAnswerAndMoments) {
  // Random123's kat_vectors: philox4x32_10, counter 0, key 0.
  const std::uint32_t zero_ctr[4] = {0, 0, 0, 0}, zero_key[2] = {0, 0};
  std::uint32_t out[4];
  philox4x32_10(zero_ctr, zero_key, out);
  EXPECT_EQ(out[0], 0x6627e8d5u);
  EXPECT_EQ(out[1], 0xe169c58du);
  EXPECT_EQ(out[2], 0xbc57ac4cu);
  EXPECT_EQ(out[3], 0x9b00dbd8u);
  const std::uint32_t ctr[4] = {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u};
  const std::uint32_t key[2] = {0xa4093822u, 0x299f31d0u};
  philox4x32_10(ctr, key, out);
  EXPECT_EQ(out[0], 0xd16cfe09u);
  EXPECT_EQ(out[1], 0x94fdccebu);
  EXPECT_EQ(out[2], 0x5001e420u);
  EXPECT_EQ(out[3], 0x24126ea1u);

  PhiloxNoise a(123), b(123);
  const std::vector<float> x = a.randn_cuda({100001}).to_floats();
  EXPECT_EQ(x, b.randn_cuda({100001}).to_floats());
  EXPECT_NE(a.randn_cuda({8}).to_floats(), a.randn_cpu({8}).to_floats());
  double mean = 0, var = 0;
  for (float v : x) mean += v;
  mean /= x.size();
  for (float v : x) var += (v - mean) * (v - mean);
  var /= x.size();
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(var, 1.0, 0.02);
}

}  // namespace
}  // namespace wma::pipeline
