// linear (bias, activation and residual epilogues) and batched matmul against naive loops
// accumulated in double.
#include "op_test_util.h"

namespace wma::test {
namespace {

std::vector<float> linear_ref(const Tensor& x, const Tensor& w, const Tensor* b, ops::Activation act,
                              const Tensor* residual) {
  const auto xv = x.to_floats(), wv = w.to_floats();
  const std::vector<float> bv = b ? b->to_floats() : std::vector<float>();
  const std::vector<float> rv = residual ? residual->to_floats() : std::vector<float>();
  const std::int64_t n = w.size(0), k = w.size(1), m = x.numel() / k;
  std::vector<float> out(static_cast<std::size_t>(m * n));
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double acc = b ? bv[j] : 0.0;
      for (std::int64_t kk = 0; kk < k; ++kk) acc += static_cast<double>(xv[i * k + kk]) * wv[j * k + kk];
      float v = static_cast<float>(acc);
      if (act == ops::Activation::GELU) v = gelu_ref(v);
      if (act == ops::Activation::SiLU) v = v / (1 + std::exp(-v));
      if (residual) v += rv[i * n + j];
      out[i * n + j] = v;
    }
  return out;
}

TEST(Linear, MatchesNaiveWithEpilogues) {
  // K = 37 exercises the dot product's tail; N = 67 crosses a weight block boundary.
  const Tensor x = padded_view({2, 5, 37}, 1);
  const Tensor w = random_tensor({67, 37}, 2);
  const Tensor b = random_tensor({67}, 3);
  const Tensor r = transposed_view({2, 5, 67}, 4);
  expect_close(ops::linear(x, w, nullptr), linear_ref(x, w, nullptr, ops::Activation::None, nullptr), 1e-5f, 1e-6f);
  expect_close(ops::linear(x, w, &b), linear_ref(x, w, &b, ops::Activation::None, nullptr), 1e-5f, 1e-6f);
  const ops::LinearEpilogue gelu_res{ops::Activation::GELU, &r};
  const Tensor y = ops::linear(x, w, &b, gelu_res);
  EXPECT_EQ(y.shape(), (Shape{2, 5, 67}));
  expect_close(y, linear_ref(x, w, &b, ops::Activation::GELU, &r), 1e-5f, 1e-6f);
  const Tensor x1 = random_tensor({1, 37}, 5);
  expect_close(ops::linear(x1, w, &b, {ops::Activation::SiLU, nullptr}),
               linear_ref(x1, w, &b, ops::Activation::SiLU, nullptr), 1e-5f, 1e-6f);
}

TEST(Linear, LargeEnoughToRunInParallel) {
  const Tensor x = random_tensor({33, 129}, 6), w = transposed_view({130, 129}, 7), b = random_tensor({130}, 8);
  expect_close(ops::linear(x, w, &b), linear_ref(x, w, &b, ops::Activation::None, nullptr), 1e-5f, 2e-6f);
}

TEST(Linear, RejectsBadShapes) {
  const Tensor w = Tensor::zeros({4, 3});
  expect_error(
      [&] {
        ops::linear(Tensor::zeros({2, 5}), w, nullptr);
      },
      "[linear] x f32[2, 5] cpu does not match weight f32[4, 3] cpu");
  expect_error(
      [&] {
        ops::linear(Tensor::zeros({2, 3}), Tensor::zeros({4, 3, 1}), nullptr);
      },
      "[linear] expected weight [N, K], got f32[4, 3, 1] cpu");
  const Tensor bad_bias = Tensor::zeros({3});
  expect_error(
      [&] {
        ops::linear(Tensor::zeros({2, 3}), w, &bad_bias);
      },
      "[linear] expected bias of shape [4], got f32[3] cpu");
  const Tensor bad_res = Tensor::zeros({2, 3});
  expect_error(
      [&] {
        ops::linear(Tensor::zeros({2, 3}), w, nullptr, {ops::Activation::None, &bad_res});
      },
      "[linear] expected residual of shape [2, 4]");
  expect_error(
      [&] {
        ops::linear(Tensor::zeros({2, 3}, DType::F16), w, nullptr);
      },
      "[linear] weight has dtype f32 but x has f16");
}

std::vector<float> matmul_ref(const Tensor& a, const Tensor& b) {
  const auto av = a.to_floats(), bv = b.to_floats();
  const std::int64_t bs = a.size(0), m = a.size(1), k = a.size(2), n = b.size(2);
  std::vector<float> out(static_cast<std::size_t>(bs * m * n));
  for (std::int64_t i = 0; i < bs; ++i) {
    const std::int64_t bi = b.size(0) == 1 ? 0 : i;
    for (std::int64_t r = 0; r < m; ++r)
      for (std::int64_t c = 0; c < n; ++c) {
        double acc = 0;
        for (std::int64_t kk = 0; kk < k; ++kk)
          acc += static_cast<double>(av[(i * m + r) * k + kk]) * bv[(bi * k + kk) * n + c];
        out[(i * m + r) * n + c] = static_cast<float>(acc);
      }
  }
  return out;
}

TEST(Matmul, BatchedAndSharedRightOperand) {
  const Tensor a = transposed_view({3, 5, 9}, 10);
  const Tensor b = padded_view({3, 9, 7}, 11);
  const Tensor shared = random_tensor({1, 9, 1}, 12);
  expect_close(ops::matmul(a, b), matmul_ref(a, b), 1e-5f, 1e-6f);
  const Tensor y = ops::matmul(a, shared);
  EXPECT_EQ(y.shape(), (Shape{3, 5, 1}));
  expect_close(y, matmul_ref(a, shared), 1e-5f, 1e-6f);
  expect_error([&] { ops::matmul(a, random_tensor({2, 9, 7}, 13)); }, "[matmul] expected b [3 or 1, 9, N]");
  expect_error([&] { ops::matmul(Tensor::zeros({5, 9}), b); }, "[matmul] expected a [B, M, K], got f32[5, 9] cpu");
}

}  // namespace
}  // namespace wma::test
