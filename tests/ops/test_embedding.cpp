// Sinusoidal timestep embeddings: known values, torch's float32 order of operations,
// both styles, odd dims and integer/float timestep dtypes.
#include "op_test_util.h"

namespace wma::test {
namespace {

TEST(TimestepEmbedding, ZeroTimeIsCosOnesThenSinZeros) {
  const Tensor y = ops::timestep_embedding(Tensor::from_ints({1}, {0}), 8, ops::TimestepStyle::CosSin);
  EXPECT_EQ(y.shape(), (Shape{1, 8}));
  EXPECT_EQ(y.dtype(), DType::F32);
  EXPECT_EQ(y.to_floats(), (std::vector<float>{1, 1, 1, 1, 0, 0, 0, 0}));
  const Tensor z = ops::timestep_embedding(Tensor::from_ints({1}, {0}), 8, ops::TimestepStyle::SinCosHalfM1);
  EXPECT_EQ(z.to_floats(), (std::vector<float>{0, 0, 0, 0, 1, 1, 1, 1}));
}

// The float32 frequencies exactly as the upstream torch expressions compute them.
std::vector<float> torch_freqs(int half, ops::TimestepStyle style) {
  std::vector<float> f(static_cast<std::size_t>(half));
  for (int i = 0; i < half; ++i) {
    if (style == ops::TimestepStyle::CosSin)
      f[i] = std::exp(static_cast<float>(-std::log(10000.0)) * static_cast<float>(i) / static_cast<float>(half));
    else f[i] = std::exp(static_cast<float>(i) * static_cast<float>(-(std::log(10000.0) / (half - 1))));
  }
  return f;
}

TEST(TimestepEmbedding, MatchesTorchOrderForBothStyles) {
  const std::vector<std::int64_t> ts{0, 1, 7, 999, 500};
  for (auto style : {ops::TimestepStyle::CosSin, ops::TimestepStyle::SinCosHalfM1}) {
    const int dim = 320, half = 160;
    const auto f = torch_freqs(half, style);
    std::vector<float> e;
    for (auto t : ts) {
      std::vector<float> c(half), s(half);
      for (int i = 0; i < half; ++i) {
        const float arg = static_cast<float>(t) * f[i];
        c[i] = std::cos(arg);
        s[i] = std::sin(arg);
      }
      const auto& first = style == ops::TimestepStyle::CosSin ? c : s;
      const auto& second = style == ops::TimestepStyle::CosSin ? s : c;
      e.insert(e.end(), first.begin(), first.end());
      e.insert(e.end(), second.begin(), second.end());
    }
    const Tensor y = ops::timestep_embedding(Tensor::from_ints({5}, ts), dim, style);
    expect_close(y, e, 0, 1e-6f);
    // The same timesteps as i32 and f32 give the same embedding.
    expect_close(ops::timestep_embedding(Tensor::from_ints({5}, ts, DType::I32), dim, style), e, 0, 1e-6f);
    expect_close(ops::timestep_embedding(ops::cast(Tensor::from_ints({5}, ts), DType::F32), dim, style), e, 0, 1e-6f);
  }
}

TEST(TimestepEmbedding, KnownValuesAgainstDoubleFormula) {
  // Frequency i = 1 of half 64 (the heads' 128-wide embedding): exp(-ln(1e4) / 63) at t = 3.
  const Tensor y = ops::timestep_embedding(Tensor::from_floats({1}, {3.0f}), 128, ops::TimestepStyle::SinCosHalfM1);
  const double f1 = std::exp(-std::log(10000.0) / 63);
  EXPECT_NEAR(y.to_floats()[1], std::sin(3 * f1), 1e-6);
  EXPECT_NEAR(y.to_floats()[64 + 1], std::cos(3 * f1), 1e-6);
  EXPECT_NEAR(y.to_floats()[63], std::sin(3 * 1e-4), 1e-7);  // last frequency is exactly 1/10000
}

TEST(TimestepEmbedding, OddDimPadsAZeroAndBadArgumentsFail) {
  const Tensor y = ops::timestep_embedding(Tensor::from_ints({2}, {5, 9}), 7, ops::TimestepStyle::CosSin);
  EXPECT_EQ(y.shape(), (Shape{2, 7}));
  EXPECT_EQ(y.to_floats()[6], 0.0f);
  EXPECT_EQ(y.to_floats()[13], 0.0f);
  expect_error(
      [] {
        ops::timestep_embedding(Tensor::zeros({2, 1}), 8, ops::TimestepStyle::CosSin);
      },
      "[timestep_embedding] expected t [B], got f32[2, 1] cpu");
  expect_error([] { ops::timestep_embedding(Tensor::zeros({2}), 7, ops::TimestepStyle::SinCosHalfM1); },
               "[timestep_embedding] SinCosHalfM1 needs an even dim >= 4, got 7");
}

}  // namespace
}  // namespace wma::test
