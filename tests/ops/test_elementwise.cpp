// Elementwise ops: broadcasting binary ops on strided views, axpby/scale, every activation
// against double-precision formulas and known values, GEGLU.
#include <limits>

#include "op_test_util.h"

namespace wma::test {
namespace {

// Naive numpy broadcast of two rank-3 operands (padded with leading 1s by the caller).
std::vector<float> broadcast_ref(const Tensor& a, const Tensor& b, const Shape& so, char op) {
  const auto av = a.to_floats(), bv = b.to_floats();
  std::vector<float> out(static_cast<std::size_t>(shape_numel(so)));
  for (std::int64_t i = 0; i < so[0]; ++i)
    for (std::int64_t j = 0; j < so[1]; ++j)
      for (std::int64_t k = 0; k < so[2]; ++k) {
        auto pick = [&](const Tensor& t, const std::vector<float>& v) {
          const Shape& s = t.shape();
          return v[flat(s, {s[0] == 1 ? 0 : i, s[1] == 1 ? 0 : j, s[2] == 1 ? 0 : k})];
        };
        const float x = pick(a, av), y = pick(b, bv);
        out[flat(so, {i, j, k})] = op == '+' ? x + y : op == '-' ? x - y : x * y;
      }
  return out;
}

TEST(Binary, BroadcastsStridedOperands) {
  const Tensor a = transposed_view({4, 1, 7}, 1);
  const Tensor b = padded_view({1, 3, 7}, 2);
  const Shape so{4, 3, 7};
  expect_close(ops::add(a, b), broadcast_ref(a, b, so, '+'), 0, 0);
  expect_close(ops::sub(a, b), broadcast_ref(a, b, so, '-'), 0, 0);
  expect_close(ops::mul(a, b), broadcast_ref(a, b, so, '*'), 0, 0);
  const Tensor wide = random_tensor({2, 5, 3}, 5);
  expect_close(ops::mul(wide, wide), broadcast_ref(wide, wide, {2, 5, 3}, '*'), 0, 0);
}

TEST(Binary, BroadcastsAcrossRanks) {
  const Tensor a = random_tensor({2, 3, 5}, 3);
  const Tensor bias = random_tensor({5}, 4);
  const Tensor out = ops::add(a, bias);
  EXPECT_EQ(out.shape(), (Shape{2, 3, 5}));
  expect_close(out, broadcast_ref(a, bias.reshape({1, 1, 5}), {2, 3, 5}, '+'), 0, 0);
  const Tensor col = random_tensor({3, 1}, 6);
  expect_close(ops::sub(bias, col), broadcast_ref(bias.reshape({1, 1, 5}), col.reshape({1, 3, 1}), {1, 3, 5}, '-'), 0,
               0);
}

TEST(Binary, RejectsIncompatibleOperands) {
  expect_error(
      [] {
        ops::add(Tensor::zeros({2, 3}), Tensor::zeros({4, 3}));
      },
      "[add] cannot broadcast f32[2, 3] cpu with f32[4, 3] cpu");
  expect_error([] { ops::mul(Tensor::zeros({3}), Tensor::zeros({3}, DType::BF16)); }, "[mul] b has dtype bf16");
  expect_error([] { ops::add(Tensor::zeros({3}, DType::BF16), Tensor::zeros({3}, DType::BF16)); },
               "[binary] the CPU backend computes in f32 only");
}

TEST(Axpby, MatchesNaiveAndScaleKeepsInfinity) {
  const Tensor x = transposed_view({3, 5}, 7), y = padded_view({3, 5}, 8);
  const auto xv = x.to_floats(), yv = y.to_floats();
  std::vector<float> e(xv.size()), s(xv.size());
  for (std::size_t i = 0; i < e.size(); ++i) {
    e[i] = 0.3f * xv[i] - 1.7f * yv[i];
    s[i] = 2.5f * xv[i];
  }
  expect_close(ops::axpby(0.3f, x, -1.7f, y), e);
  expect_close(ops::scale(x, 2.5f), s, 0, 0);
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(ops::scale(Tensor::from_floats({1}, {inf}), 2.0f).item(), inf);
  expect_error([&] { ops::axpby(1, x, 1, random_tensor({5, 3}, 9)); }, "[axpby] shapes differ");
}

double activation_ref(double x, ops::Activation act) {
  switch (act) {
    case ops::Activation::None: return x;
    case ops::Activation::SiLU: return x / (1 + std::exp(-x));
    case ops::Activation::GELU: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case ops::Activation::GELUTanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case ops::Activation::Mish: return x * std::tanh(x > 20 ? x : std::log1p(std::exp(x)));
    case ops::Activation::ReLU: return x > 0 ? x : 0;
  }
  return 0;
}

TEST(Activation, MatchesDoubleFormulas) {
  const Tensor x = transposed_view({5, 11}, 10);
  const std::vector<float> xv = [&] {
    auto v = x.to_floats();
    for (auto& f : v) f *= 8;  // cover tails beyond +-4
    return v;
  }();
  const Tensor xs = ops::scale(x, 8);
  for (auto act : {ops::Activation::None, ops::Activation::SiLU, ops::Activation::GELU, ops::Activation::GELUTanh,
                   ops::Activation::Mish, ops::Activation::ReLU}) {
    std::vector<float> e(xv.size());
    for (std::size_t i = 0; i < e.size(); ++i) e[i] = static_cast<float>(activation_ref(xv[i], act));
    SCOPED_TRACE(static_cast<int>(act));
    expect_close(ops::activation(xs, act), e, 2e-6f, 1e-6f);
  }
}

TEST(Activation, KnownValues) {
  const Tensor x = Tensor::from_floats({4}, {1.0f, -1.0f, 0.0f, 30.0f});
  const auto gelu = ops::activation(x, ops::Activation::GELU).to_floats();
  EXPECT_NEAR(gelu[0], 0.8413447f, 1e-7);
  EXPECT_NEAR(gelu[1], -0.1586553f, 1e-7);
  const auto mish = ops::activation(x, ops::Activation::Mish).to_floats();
  EXPECT_NEAR(mish[0], 0.8650984f, 1e-7);
  EXPECT_EQ(mish[3], 30.0f);
  const auto silu = ops::activation(x, ops::Activation::SiLU).to_floats();
  EXPECT_NEAR(silu[0], 0.7310586f, 1e-7);
  EXPECT_NEAR(ops::activation(x, ops::Activation::GELUTanh).to_floats()[0], 0.8411920f, 1e-7);
  EXPECT_EQ(ops::activation(x, ops::Activation::ReLU).to_floats(), (std::vector<float>{1, 0, 0, 30}));
}

TEST(Geglu, GateIsTheSecondHalf) {
  const Shape s{3, 2, 14};
  const Tensor x = padded_view(s, 11);
  const auto xv = x.to_floats();
  std::vector<float> e(3 * 2 * 7);
  for (std::int64_t r = 0; r < 6; ++r)
    for (std::int64_t i = 0; i < 7; ++i) e[r * 7 + i] = xv[r * 14 + i] * gelu_ref(xv[r * 14 + 7 + i]);
  const Tensor y = ops::geglu(x);
  EXPECT_EQ(y.shape(), (Shape{3, 2, 7}));
  expect_close(y, e, 2e-6f, 1e-7f);
  expect_error([] { ops::geglu(Tensor::zeros({2, 5})); }, "[geglu] expected x [..., 2N], got f32[2, 5] cpu");
}

}  // namespace
}  // namespace wma::test
