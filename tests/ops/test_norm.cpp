// Group norm, layer norm and softmax against two-pass double references, including
// low-precision affine parameters, the fused SiLU and extreme softmax inputs.
#include <limits>

#include "op_test_util.h"

namespace wma::test {
namespace {

std::vector<float> group_norm_ref(const Tensor& x, int groups, const Tensor* w, const Tensor* b, double eps,
                                  bool silu) {
  const auto xv = x.to_floats();
  const std::vector<float> wv = w ? w->to_floats() : std::vector<float>();
  const std::vector<float> bv = b ? b->to_floats() : std::vector<float>();
  const std::int64_t n = x.size(0), l = x.size(1), c = x.size(2), cg = c / groups;
  std::vector<float> out(xv.size());
  for (std::int64_t bb = 0; bb < n; ++bb)
    for (int g = 0; g < groups; ++g) {
      double mean = 0, var = 0;
      for (std::int64_t i = 0; i < l; ++i)
        for (std::int64_t j = g * cg; j < (g + 1) * cg; ++j) mean += xv[(bb * l + i) * c + j];
      mean /= static_cast<double>(l * cg);
      for (std::int64_t i = 0; i < l; ++i)
        for (std::int64_t j = g * cg; j < (g + 1) * cg; ++j) {
          const double d = xv[(bb * l + i) * c + j] - mean;
          var += d * d;
        }
      var /= static_cast<double>(l * cg);
      for (std::int64_t i = 0; i < l; ++i)
        for (std::int64_t j = g * cg; j < (g + 1) * cg; ++j) {
          const std::int64_t k = (bb * l + i) * c + j;
          double y = (xv[k] - mean) / std::sqrt(var + eps) * (w ? wv[j] : 1.0) + (b ? bv[j] : 0.0);
          if (silu) y = y / (1 + std::exp(-y));
          out[k] = static_cast<float>(y);
        }
    }
  return out;
}

TEST(GroupNorm, MatchesTwoPassReference) {
  // 15 channels in 5 groups of 3 (odd group size); an offset mean tests the two-pass variance.
  const Tensor raw = padded_view({2, 13, 15}, 1);
  const Tensor x = ops::add(ops::scale(raw, 3.0f), Tensor::from_floats({1}, {100.0f}));
  const Tensor w = random_tensor({15}, 2), b = random_tensor({15}, 3);
  expect_close(ops::group_norm(x, 5, &w, &b, 1e-5f), group_norm_ref(x, 5, &w, &b, 1e-5, false), 2e-5f, 2e-5f);
  expect_close(ops::group_norm(x, 1, nullptr, nullptr, 1e-6f), group_norm_ref(x, 1, nullptr, nullptr, 1e-6, false),
               2e-5f, 2e-5f);
  expect_close(ops::group_norm(x, 15, &w, &b, 1e-6f, ops::Activation::SiLU), group_norm_ref(x, 15, &w, &b, 1e-6, true),
               2e-5f, 2e-5f);
}

TEST(GroupNorm, AcceptsLowPrecisionAffineAndLargeInputs) {
  const Tensor x = random_tensor({2, 300, 32}, 4);
  const Tensor w = ops::cast(random_tensor({32}, 5), DType::BF16), b = ops::cast(random_tensor({32}, 6), DType::F16);
  expect_close(ops::group_norm(x, 8, &w, &b, 1e-5f, ops::Activation::SiLU), group_norm_ref(x, 8, &w, &b, 1e-5, true),
               2e-5f, 2e-5f);
}

TEST(GroupNorm, AddsAPerVideoBiasBeforeNormalising) {
  // 6 samples = 2 videos x 3 frames; bias row v goes to samples 3v..3v+2 (the ResBlock's timestep
  // embedding), and a single row goes to every sample (a conv bias). Reference: the explicit add.
  const Tensor x = ops::add(random_tensor({6, 11, 12}, 7, -2, 2), Tensor::from_floats({1}, {20.0f}));
  const Tensor w = random_tensor({12}, 8), b = random_tensor({12}, 9);
  const Tensor per_video = random_tensor({2, 12}, 10, -30, 30), one_row = random_tensor({1, 12}, 11, -5, 5);
  const Tensor biased = ops::add(x.reshape({2, 33, 12}), per_video.unsqueeze(1)).reshape({6, 11, 12});
  expect_close(ops::group_norm(x, 4, &w, &b, 1e-5f, ops::Activation::SiLU, &per_video),
               group_norm_ref(biased, 4, &w, &b, 1e-5, true), 2e-5f, 2e-5f);
  expect_close(ops::group_norm(x, 3, &w, &b, 1e-5f, ops::Activation::None, &one_row),
               group_norm_ref(ops::add(x, one_row), 3, &w, &b, 1e-5, false), 2e-5f, 2e-5f);
  {
    const ops::ScopedFusion unfused(false);
    expect_close(ops::group_norm(x, 4, &w, &b, 1e-5f, ops::Activation::SiLU, &per_video),
                 group_norm_ref(biased, 4, &w, &b, 1e-5, true), 2e-5f, 2e-5f);
  }
  expect_error([&] { ops::group_norm(x, 4, &w, &b, 1e-5f, ops::Activation::None, &w); },
               "[group_norm] expected x_bias");
  const Tensor four_rows = random_tensor({4, 12}, 12);
  expect_error([&] { ops::group_norm(x, 4, &w, &b, 1e-5f, ops::Activation::None, &four_rows); }, "with B dividing 6");
}

TEST(GroupNorm, MishThenFilmScaleAndShift) {
  const Tensor x = random_tensor({4, 9, 16}, 30, -3, 3);
  const Tensor w = random_tensor({16}, 31), b = random_tensor({16}, 32), film = random_tensor({4, 2, 16}, 33);
  std::vector<float> expected = group_norm_ref(x, 8, &w, &b, 1e-5, false);
  const auto fv = film.to_floats();
  for (std::int64_t n = 0; n < 4; ++n)
    for (std::int64_t i = 0; i < 9; ++i)
      for (std::int64_t c = 0; c < 16; ++c) {
        float& y = expected[(n * 9 + i) * 16 + c];
        const double mish = y * std::tanh(std::log1p(std::exp(static_cast<double>(y))));
        y = static_cast<float>(mish * fv[(n * 2) * 16 + c] + fv[(n * 2 + 1) * 16 + c]);
      }
  expect_close(ops::group_norm(x, 8, &w, &b, 1e-5f, ops::Activation::Mish, nullptr, &film), expected, 2e-5f, 2e-5f);
  {
    const ops::ScopedFusion unfused(false);
    expect_close(ops::group_norm(x, 8, &w, &b, 1e-5f, ops::Activation::Mish, nullptr, &film), expected, 2e-5f, 2e-5f);
  }
  const Tensor wrong = random_tensor({4, 16}, 34);
  expect_error([&] { ops::group_norm(x, 8, &w, &b, 1e-5f, ops::Activation::Mish, nullptr, &wrong); },
               "[group_norm] expected film of shape [4, 2, 16]");
}

TEST(SpatialSoftmax, ExpectedPositionsOfChannelsLastMaps) {
  const Tensor logits = ops::scale(random_tensor({3, 11, 5}, 40, -2, 2), 4.0f), pos = random_tensor({11, 2}, 41);
  const auto lv = logits.to_floats(), pv = pos.to_floats();
  std::vector<float> expected;
  for (int n = 0; n < 3; ++n)
    for (int k = 0; k < 5; ++k) {
      double mx = -1e30, sum = 0, x = 0, y = 0;
      for (int p = 0; p < 11; ++p) mx = std::max(mx, static_cast<double>(lv[(n * 11 + p) * 5 + k]));
      for (int p = 0; p < 11; ++p) {
        const double e = std::exp(lv[(n * 11 + p) * 5 + k] - mx);
        sum += e, x += e * pv[2 * p], y += e * pv[2 * p + 1];
      }
      expected.push_back(static_cast<float>(x / sum));
      expected.push_back(static_cast<float>(y / sum));
    }
  expect_close(ops::spatial_softmax(logits, pos), expected, 1e-5f, 1e-6f);
  {
    const ops::ScopedFusion unfused(false);
    expect_close(ops::spatial_softmax(logits, pos), expected, 1e-5f, 1e-6f);
  }
  expect_error(
      [&] {
        ops::spatial_softmax(logits, random_tensor({10, 2}, 42));
      },
      "[spatial_softmax] expected pos [11, D]");
}

TEST(GroupNorm, RejectsBadArguments) {
  expect_error(
      [] {
        ops::group_norm(Tensor::zeros({2, 4, 6}), 4, nullptr, nullptr, 1e-5f);
      },
      "[group_norm] 6 channels do not split into 4 groups");
  expect_error(
      [] {
        ops::group_norm(Tensor::zeros({2, 6}), 2, nullptr, nullptr, 1e-5f);
      },
      "[group_norm] expected x [N, L, C], got f32[2, 6] cpu");
  const Tensor w = Tensor::zeros({5});
  expect_error(
      [&] {
        ops::group_norm(Tensor::zeros({2, 4, 6}), 2, &w, nullptr, 1e-5f);
      },
      "[group_norm] expected weight of shape [6], got f32[5] cpu");
  expect_error(
      [] {
        ops::group_norm(Tensor::zeros({2, 4, 6}), 2, nullptr, nullptr, 1e-5f, ops::Activation::GELU);
      },
      "[group_norm] supports act None, SiLU or Mish only");
}

TEST(LayerNorm, MatchesReferenceWithAndWithoutAffine) {
  const Tensor x = transposed_view({3, 7, 9}, 7);
  const Tensor w = random_tensor({9}, 8), b = random_tensor({9}, 9);
  // Layer norm over the last dim is group norm with one group over [rows, 1, C].
  const Tensor x3 = ops::contiguous(x).reshape({21, 1, 9});
  expect_close(ops::layer_norm(x, &w, &b, 1e-5f), group_norm_ref(x3, 1, &w, &b, 1e-5, false), 2e-5f, 2e-5f);
  expect_close(ops::layer_norm(x, nullptr, nullptr, 1e-6f), group_norm_ref(x3, 1, nullptr, nullptr, 1e-6, false), 2e-5f,
               2e-5f);
  expect_error([&] { ops::layer_norm(x, &x, nullptr, 1e-5f); },
               "[layer_norm] expected weight of shape [9], got f32[3, 7, 9] cpu");
}

TEST(Softmax, StableForLargeAndInfiniteInputs) {
  const Tensor x = padded_view({4, 11}, 10);
  const auto xv = x.to_floats();
  std::vector<float> e(xv.size());
  for (int r = 0; r < 4; ++r) {
    double mx = -1e30, sum = 0;
    for (int i = 0; i < 11; ++i) mx = std::max<double>(mx, xv[r * 11 + i]);
    for (int i = 0; i < 11; ++i) sum += std::exp(xv[r * 11 + i] - mx);
    for (int i = 0; i < 11; ++i) e[r * 11 + i] = static_cast<float>(std::exp(xv[r * 11 + i] - mx) / sum);
  }
  expect_close(ops::softmax(x), e, 2e-6f, 1e-7f);
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor big = Tensor::from_floats({1, 4}, {1000.0f, 1000.0f, -inf, 999.0f});
  const double e1 = std::exp(-1.0), s = 2 + e1;
  expect_close(ops::softmax(big),
               {static_cast<float>(1 / s), static_cast<float>(1 / s), 0.0f, static_cast<float>(e1 / s)}, 1e-6f, 0);
}

}  // namespace
}  // namespace wma::test
