// Channels-last convolutions (2-D, temporal, 1-D, transposed 1-D) against naive loops in
// double, with odd channel counts, strides, padding and non-contiguous inputs.
#include "op_test_util.h"

namespace wma::test {
namespace {

std::vector<float> conv2d_ref(const Tensor& x, const Tensor& w, const Tensor* b, int stride, int pad,
                              const Tensor* residual) {
  const auto xv = x.to_floats(), wv = w.to_floats();
  const std::vector<float> bv = b ? b->to_floats() : std::vector<float>();
  const std::vector<float> rv = residual ? residual->to_floats() : std::vector<float>();
  const std::int64_t n = x.size(0), h = x.size(1), wd = x.size(2), ci = x.size(3);
  const std::int64_t co = w.size(0), kh = w.size(1), kw = w.size(2);
  const std::int64_t ho = (h + 2 * pad - kh) / stride + 1, wo = (wd + 2 * pad - kw) / stride + 1;
  const Shape so{n, ho, wo, co};
  std::vector<float> out(static_cast<std::size_t>(shape_numel(so)));
  for (std::int64_t b0 = 0; b0 < n; ++b0)
    for (std::int64_t oy = 0; oy < ho; ++oy)
      for (std::int64_t ox = 0; ox < wo; ++ox)
        for (std::int64_t o = 0; o < co; ++o) {
          double acc = b ? bv[o] : 0.0;
          for (std::int64_t ky = 0; ky < kh; ++ky)
            for (std::int64_t kx = 0; kx < kw; ++kx) {
              const std::int64_t iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
              if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
              for (std::int64_t c = 0; c < ci; ++c)
                acc += static_cast<double>(xv[flat(x.shape(), {b0, iy, ix, c})]) * wv[flat(w.shape(), {o, ky, kx, c})];
            }
          const std::int64_t i = flat(so, {b0, oy, ox, o});
          out[i] = static_cast<float>(acc) + (residual ? rv[i] : 0.0f);
        }
  return out;
}

TEST(Conv2d, MatchesNaiveOverStridesAndPadding) {
  struct Case {
    Shape x, w;
    int stride, pad;
  };
  for (const Case& c : {Case{{2, 7, 6, 5}, {3, 3, 3, 5}, 1, 1}, Case{{1, 9, 8, 3}, {4, 3, 3, 3}, 2, 1},
                        Case{{2, 5, 5, 7}, {9, 1, 1, 7}, 1, 0}, Case{{1, 6, 7, 1}, {2, 3, 2, 1}, 2, 0}}) {
    const Tensor x = padded_view(c.x, 1), w = random_tensor(c.w, 2), b = random_tensor({c.w[0]}, 3);
    SCOPED_TRACE(x.describe() + " stride " + std::to_string(c.stride) + " pad " + std::to_string(c.pad));
    const ops::Conv2dParams p{c.stride, c.pad};
    expect_close(ops::conv2d(x, w, &b, p), conv2d_ref(x, w, &b, c.stride, c.pad, nullptr), 1e-5f, 1e-6f);
    expect_close(ops::conv2d(x, w, nullptr, p), conv2d_ref(x, w, nullptr, c.stride, c.pad, nullptr), 1e-5f, 1e-6f);
  }
}

TEST(Conv2d, ResidualAndLargerParallelCase) {
  const Tensor x = random_tensor({2, 8, 8, 16}, 4), w = random_tensor({12, 3, 3, 16}, 5), b = random_tensor({12}, 6);
  const Tensor r = transposed_view({2, 8, 8, 12}, 7);
  expect_close(ops::conv2d(x, w, &b, {1, 1}, &r), conv2d_ref(x, w, &b, 1, 1, &r), 1e-5f, 2e-6f);
}

TEST(Conv2d, RejectsBadShapes) {
  const Tensor w = Tensor::zeros({4, 3, 3, 5});
  expect_error(
      [&] {
        ops::conv2d(Tensor::zeros({2, 3}), w, nullptr, {});
      },
      "[conv2d] expected x [N, H, W, Cin], got f32[2, 3] cpu");
  expect_error(
      [&] {
        ops::conv2d(Tensor::zeros({1, 4, 4, 6}), w, nullptr, {});
      },
      "[conv2d] weight f32[4, 3, 3, 5] cpu expects 5 input channels, x f32[1, 4, 4, 6] cpu has 6");
  expect_error(
      [&] {
        ops::conv2d(Tensor::zeros({1, 2, 2, 5}), w, nullptr, {});
      },
      "[conv2d] kernel size 3 exceeds padded input size 2");
  const Tensor r = Tensor::zeros({1, 4, 4, 3});
  expect_error(
      [&] {
        ops::conv2d(Tensor::zeros({1, 4, 4, 5}), w, nullptr, {1, 1}, &r);
      },
      "[conv2d] expected residual of shape [1, 4, 4, 4], got f32[1, 4, 4, 3] cpu");
  expect_error([&] { ops::conv2d(Tensor::zeros({1, 4, 4, 5}), w, nullptr, {0, 1}); }, "[conv2d] needs stride >= 1");
}

// Temporal conv is conv2d over (T, S) with a (k, 1) kernel.
TEST(ConvTemporal, MatchesConv2dReference) {
  const Shape xs{2, 5, 6, 7};  // B, T, S, Cin
  const Tensor x = padded_view(xs, 8), w = random_tensor({3, 3, 7}, 9), b = random_tensor({3}, 10);
  for (int pad : {0, 1, 2}) {
    const Tensor y = ops::conv_temporal(x, w, &b, pad);
    EXPECT_EQ(y.shape(), (Shape{2, 5 + 2 * pad - 2, 6, 3}));
    // Padding only in time: pad S by zero through a (k, 1) kernel with pad in both dims, then crop.
    const Tensor w4 = w.reshape({3, 3, 1, 7});
    std::vector<float> full = conv2d_ref(x, w4, &b, 1, pad, nullptr);
    const std::int64_t to = 5 + 2 * pad - 2, sp = 6 + 2 * pad;
    std::vector<float> e;
    for (std::int64_t bb = 0; bb < 2; ++bb)
      for (std::int64_t t = 0; t < to; ++t)
        for (std::int64_t s = 0; s < 6; ++s)
          for (std::int64_t o = 0; o < 3; ++o) e.push_back(full[flat({2, to, sp, 3}, {bb, t, s + pad, o})]);
    expect_close(y, e, 1e-5f, 1e-6f);
  }
  expect_error(
      [&] {
        ops::conv_temporal(x, random_tensor({3, 3, 3, 7}, 1), nullptr, 1);
      },
      "[conv_temporal] expected weight [Cout, k, Cin], got f32[3, 3, 3, 7] cpu");
}

TEST(ConvTemporal, AddsAResidualFusedOrNot) {
  const Tensor x = random_tensor({2, 5, 6, 7}, 11), w = random_tensor({7, 3, 7}, 12), b = random_tensor({7}, 13);
  const Tensor res = padded_view({2, 5, 6, 7}, 14);
  const std::vector<float> expected = ops::add(ops::conv_temporal(x, w, &b, 1), res).to_floats();
  expect_close(ops::conv_temporal(x, w, &b, 1, &res), expected, 1e-6f, 1e-6f);
  {
    const ops::ScopedFusion unfused(false);
    expect_close(ops::conv_temporal(x, w, &b, 1, &res), expected, 1e-6f, 1e-6f);
  }
  const Tensor wrong = random_tensor({2, 3, 6, 7}, 15);
  expect_error([&] { ops::conv_temporal(x, w, &b, 1, &wrong); }, "[conv_temporal] expected residual");
}

TEST(Conv1d, MatchesNaive) {
  const Tensor x = transposed_view({2, 11, 5}, 11), w = random_tensor({6, 3, 5}, 12), b = random_tensor({6}, 13);
  const auto xv = x.to_floats(), wv = w.to_floats(), bv = b.to_floats();
  for (int stride : {1, 2})
    for (int pad : {0, 1}) {
      const Tensor y = ops::conv1d(x, w, &b, {stride, pad});
      const std::int64_t lo = (11 + 2 * pad - 3) / stride + 1;
      ASSERT_EQ(y.shape(), (Shape{2, lo, 6}));
      std::vector<float> e;
      for (std::int64_t n = 0; n < 2; ++n)
        for (std::int64_t o = 0; o < lo; ++o)
          for (std::int64_t c = 0; c < 6; ++c) {
            double acc = bv[c];
            for (std::int64_t j = 0; j < 3; ++j) {
              const std::int64_t i = o * stride - pad + j;
              if (i < 0 || i >= 11) continue;
              for (std::int64_t cc = 0; cc < 5; ++cc)
                acc += static_cast<double>(xv[(n * 11 + i) * 5 + cc]) * wv[(c * 3 + j) * 5 + cc];
            }
            e.push_back(static_cast<float>(acc));
          }
      expect_close(y, e, 1e-5f, 1e-6f);
    }
  expect_error(
      [&] {
        ops::conv1d(x, random_tensor({6, 3, 4}, 1), nullptr, {});
      },
      "[conv1d] weight f32[6, 3, 4] cpu expects 4 input channels");
}

std::vector<float> conv_transpose1d_ref(const Tensor& x, const Tensor& w, const Tensor* b, int stride, int pad) {
  const auto xv = x.to_floats(), wv = w.to_floats();
  const std::int64_t n = x.size(0), l = x.size(1), ci = x.size(2), co = w.size(0), k = w.size(1);
  const std::int64_t lo = (l - 1) * stride - 2 * pad + k;
  std::vector<double> acc(static_cast<std::size_t>(n * lo * co), 0.0);
  // Scatter form (torch's definition), independent of the kernel's gather form.
  for (std::int64_t bb = 0; bb < n; ++bb)
    for (std::int64_t i = 0; i < l; ++i)
      for (std::int64_t j = 0; j < k; ++j) {
        const std::int64_t o = i * stride - pad + j;
        if (o < 0 || o >= lo) continue;
        for (std::int64_t c = 0; c < co; ++c)
          for (std::int64_t cc = 0; cc < ci; ++cc)
            acc[(bb * lo + o) * co + c] += static_cast<double>(xv[(bb * l + i) * ci + cc]) * wv[(c * k + j) * ci + cc];
      }
  std::vector<float> out(acc.size());
  const std::vector<float> bv = b ? b->to_floats() : std::vector<float>(static_cast<std::size_t>(co), 0.0f);
  for (std::size_t i = 0; i < acc.size(); ++i) out[i] = static_cast<float>(acc[i] + bv[i % co]);
  return out;
}

TEST(ConvTranspose1d, MatchesScatterDefinition) {
  const Tensor x = padded_view({2, 7, 5}, 14), w = random_tensor({3, 4, 5}, 15), b = random_tensor({3}, 16);
  for (int stride : {1, 2, 3})
    for (int pad : {0, 1}) {
      const Tensor y = ops::conv_transpose1d(x, w, &b, {stride, pad});
      EXPECT_EQ(y.size(1), 6 * stride - 2 * pad + 4);
      expect_close(y, conv_transpose1d_ref(x, w, &b, stride, pad), 1e-5f, 1e-6f);
    }
  expect_error(
      [&] {
        ops::conv_transpose1d(random_tensor({1, 1, 5}, 1), random_tensor({3, 2, 5}, 2), nullptr, {1, 1});
      },
      "[conv_transpose1d] output length 0 < 1");
}

}  // namespace
}  // namespace wma::test
