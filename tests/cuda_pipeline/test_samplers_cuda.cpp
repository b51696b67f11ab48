// The multistep solvers' updates run as device ops on the chains' device: the diffusers parity of
// tests/sampling/test_multistep_fixture.cpp with the three chains on the GPU, at the same tolerance (the updates
// are float32 axpbys, which the CUDA backend does not contract into FMAs).
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "util/multistep_fixture_check.h"

namespace wma::sampling {
namespace {

class MultistepFixtureCuda : public ::testing::TestWithParam<test::MultistepCase> {
 protected:
  void SetUp() override { cuda::init(); }
};

TEST_P(MultistepFixtureCuda, EveryStepMatchesDiffusers) {
  test::check_multistep_against_diffusers(GetParam(), Device::CUDA);
}

INSTANTIATE_TEST_SUITE_P(Diffusers, MultistepFixtureCuda, test::kMultistepCases, test::multistep_case_name);

}  // namespace
}  // namespace wma::sampling
