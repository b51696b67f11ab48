// Attention against a naive double-precision softmax(QK^T)V, on strided q/k/v (slices of a
// fused projection), with per-batch and shared additive masks including -inf.
#include <limits>

#include "op_test_util.h"

namespace wma::test {
namespace {

std::vector<float> attention_ref(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, float scale) {
  const auto qv = q.to_floats(), kv = k.to_floats(), vv = v.to_floats();
  const std::vector<float> mv = mask ? mask->to_floats() : std::vector<float>();
  const std::int64_t b = q.size(0), lq = q.size(1), h = q.size(2), d = q.size(3), lk = k.size(1), dv = v.size(3);
  std::vector<float> out(static_cast<std::size_t>(b * lq * h * dv));
  for (std::int64_t bb = 0; bb < b; ++bb)
    for (std::int64_t i = 0; i < lq; ++i)
      for (std::int64_t hh = 0; hh < h; ++hh) {
        std::vector<double> s(static_cast<std::size_t>(lk));
        double mx = -std::numeric_limits<double>::infinity(), sum = 0;
        for (std::int64_t j = 0; j < lk; ++j) {
          double acc = 0;
          for (std::int64_t e = 0; e < d; ++e)
            acc += static_cast<double>(qv[((bb * lq + i) * h + hh) * d + e]) * kv[((bb * lk + j) * h + hh) * d + e];
          s[j] = scale * acc;
          if (mask) s[j] += mv[((mask->size(0) == 1 ? 0 : bb) * lq + i) * lk + j];
          mx = std::max(mx, s[j]);
        }
        for (auto& x : s) sum += (x = std::exp(x - mx));
        for (std::int64_t e = 0; e < dv; ++e) {
          double acc = 0;
          for (std::int64_t j = 0; j < lk; ++j) acc += s[j] / sum * vv[((bb * lk + j) * h + hh) * dv + e];
          out[((bb * lq + i) * h + hh) * dv + e] = static_cast<float>(acc);
        }
      }
  return out;
}

TEST(Attention, StridedSlicesOfAFusedProjection) {
  const std::int64_t b = 2, l = 9, h = 3, d = 5;
  const Tensor qkv = random_tensor({b, l, 3, h, d}, 1, -2, 2);
  const Tensor q = qkv.select(2, 0), k = qkv.select(2, 1), v = qkv.select(2, 2);
  ASSERT_FALSE(q.is_contiguous());
  const float scale = 1.0f / std::sqrt(5.0f);
  const Tensor y = ops::attention(q, k, v, nullptr, scale);
  EXPECT_EQ(y.shape(), (Shape{b, l, h, d}));
  expect_close(y, attention_ref(q, k, v, nullptr, scale), 1e-5f, 1e-6f);
}

TEST(Attention, CrossAttentionWithMasks) {
  const Tensor q = padded_view({2, 7, 2, 4}, 2), k = random_tensor({2, 5, 2, 4}, 3);
  const Tensor v = transposed_view({2, 5, 2, 6}, 4);  // Dv = 6, last dim strided: copied by the front door
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> shared_mask(7 * 5, 0.0f);
  for (int i = 0; i < 7; ++i)
    for (int j = 0; j < 5; ++j)
      if (j > i % 5) shared_mask[i * 5 + j] = -inf;  // block-causal pattern: key 0 always visible
  const Tensor m1 = Tensor::from_floats({1, 7, 5}, shared_mask);
  const Tensor m2 = random_tensor({2, 7, 5}, 5, -3, 0);
  expect_close(ops::attention(q, k, v, &m1, 0.5f), attention_ref(q, k, v, &m1, 0.5f), 1e-5f, 1e-6f);
  expect_close(ops::attention(q, k, v, &m2, 0.5f), attention_ref(q, k, v, &m2, 0.5f), 1e-5f, 1e-6f);
}

TEST(Attention, SumOfBranchesEachWithItsOwnSoftmax) {
  // Three branches of different lengths over one q, one of them masked: the sum of three attentions.
  const Tensor q = padded_view({2, 7, 2, 4}, 20);
  const Tensor k1 = random_tensor({2, 5, 2, 4}, 21), v1 = random_tensor({2, 5, 2, 6}, 22);
  const Tensor k2 = random_tensor({2, 1, 2, 4}, 23), v2 = random_tensor({2, 1, 2, 6}, 24);
  const Tensor k3 = random_tensor({2, 9, 2, 4}, 25), v3 = transposed_view({2, 9, 2, 6}, 26);
  std::vector<float> mask(7 * 9, 0.0f);
  for (int i = 0; i < 7; ++i)
    for (int j = 3 * (i % 3 + 1); j < 9; ++j) mask[i * 9 + j] = -std::numeric_limits<float>::infinity();
  const Tensor m3 = Tensor::from_floats({1, 7, 9}, mask);
  std::vector<float> expected = attention_ref(q, k1, v1, nullptr, 0.5f);
  const std::vector<float> e2 = attention_ref(q, k2, v2, nullptr, 0.5f), e3 = attention_ref(q, k3, v3, &m3, 0.5f);
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] += e2[i] + e3[i];
  const std::vector<ops::KeyValueBranch> branches{{k1, v1}, {k2, v2}, {k3, v3, &m3}};
  expect_close(ops::attention_sum(q, branches, 0.5f), expected, 1e-5f, 1e-6f);
  {
    const ops::ScopedFusion unfused(false);
    expect_close(ops::attention_sum(q, branches, 0.5f), expected, 1e-5f, 1e-6f);
  }
  expect_error([] { ops::attention_sum(Tensor::zeros({1, 2, 1, 4}), {}, 1.0f); }, "[attention_sum] needs at least one");
  const Tensor v_wide = random_tensor({2, 5, 2, 8}, 27);
  expect_error([&] { ops::attention_sum(q, {{k1, v1}, {k1, v_wide}}, 0.5f); }, "[attention_sum] branch 1 gives");
}

// A mask that is the same for every query, passed as a [B, 1, Lk] row expanded over the queries (query
// stride 0, never materialised): the same result as the dense mask, fused and unfused.
TEST(Attention, MaskBroadcastOverQueries) {
  const Tensor q = random_tensor({3, 6, 2, 4}, 30), k = random_tensor({3, 8, 2, 4}, 31),
               v = random_tensor({3, 8, 2, 5}, 32);
  std::vector<float> rows(3 * 8, 0.0f), dense(3 * 6 * 8, 0.0f);
  for (int b = 0; b < 3; ++b)
    for (int j = 2 * (b + 1); j < 8; ++j) {
      rows[b * 8 + j] = -std::numeric_limits<float>::infinity();
      for (int i = 0; i < 6; ++i) dense[(b * 6 + i) * 8 + j] = -std::numeric_limits<float>::infinity();
    }
  const Tensor broadcast = Tensor::from_floats({3, 1, 8}, rows).expand({3, 6, 8});
  const Tensor full = Tensor::from_floats({3, 6, 8}, dense);
  ASSERT_EQ(broadcast.stride(1), 0);
  const std::vector<float> expected = attention_ref(q, k, v, &full, 0.5f);
  expect_close(ops::attention(q, k, v, &broadcast, 0.5f), expected, 1e-5f, 1e-6f);
  expect_close(ops::attention_sum(q, {{k, v, &broadcast}}, 0.5f), expected, 1e-5f, 1e-6f);
  const ops::ScopedFusion unfused(false);
  expect_close(ops::attention_sum(q, {{k, v, &broadcast}}, 0.5f), expected, 1e-5f, 1e-6f);
}

TEST(Attention, LongerSequenceRunsInParallel) {
  const Tensor q = random_tensor({1, 64, 2, 16}, 6), k = random_tensor({1, 80, 2, 16}, 7),
               v = random_tensor({1, 80, 2, 16}, 8);
  expect_close(ops::attention(q, k, v, nullptr, 0.25f), attention_ref(q, k, v, nullptr, 0.25f), 1e-5f, 1e-6f);
}

// The UNet's temporal layout: q/k/v are the frames of each pixel of a fused [T, P, 3, H, D]
// projection, and the output goes to the frames of each pixel of a [T, P, H, D] tensor (rows
// padded here, so a write outside the view would show).
TEST(Attention, IntoFrameStridedOutputView) {
  const std::int64_t t = 7, p = 5, h = 2, d = 8, pad = 3;
  const Tensor qkv = random_tensor({t, p, 3, h, d}, 9, -2, 2).permute({1, 0, 2, 3, 4});  // [P, T, 3, H, D]
  const Tensor q = qkv.select(2, 0), k = qkv.select(2, 1), v = qkv.select(2, 2);
  Tensor storage = Tensor::empty({t, p, h, d + pad});
  ops::fill(storage, -7.0f);
  const Tensor out = storage.slice(-1, 0, d).permute({1, 0, 2, 3});  // [P, T, H, D]
  const float scale = 1.0f / std::sqrt(8.0f);
  ops::attention_into(out, q, k, v, nullptr, scale);
  expect_close(ops::contiguous(out), attention_ref(q, k, v, nullptr, scale), 1e-5f, 1e-6f);
  const std::vector<float> padding = ops::contiguous(storage.slice(-1, d, d + pad)).to_floats();
  for (float x : padding) ASSERT_EQ(x, -7.0f);

  // With a mask, and the same values as ops::attention.
  std::vector<float> mask_values(static_cast<std::size_t>(t * t), 0.0f);
  for (std::int64_t i = 0; i < t; ++i)
    for (std::int64_t j = i + 1; j < t; ++j) mask_values[static_cast<std::size_t>(i * t + j)] = -INFINITY;
  const Tensor causal = Tensor::from_floats({1, t, t}, mask_values);
  ops::attention_into(out, q, k, v, &causal, scale);
  expect_close(ops::contiguous(out), ops::attention(q, k, v, &causal, scale).to_floats(), 0.0f, 0.0f);
}

TEST(Attention, IntoRejectsBadOutputs) {
  const Tensor q = Tensor::zeros({2, 7, 2, 4}), k = Tensor::zeros({2, 5, 2, 4}), v = Tensor::zeros({2, 5, 2, 6});
  expect_error(
      [&] {
        ops::attention_into(Tensor::zeros({2, 7, 2, 4}), q, k, v, nullptr, 1);
      },
      "[attention] expected out of shape [2, 7, 2, 6], got f32[2, 7, 2, 4] cpu");
  expect_error(
      [&] {
        ops::attention_into(Tensor::zeros({2, 7, 6, 2}).transpose(2, 3), q, k, v, nullptr, 1);
      },
      "[attention] expected out with a contiguous last dim, got f32[2, 7, 2, 6] cpu with strides");
  expect_error(
      [&] {
        ops::attention_into(Tensor::zeros({2, 7, 2, 6}, DType::F16), q, k, v, nullptr, 1);
      },
      "[attention] out has dtype f16 but q has f32");
}

TEST(Attention, RejectsBadShapes) {
  const Tensor q = Tensor::zeros({2, 7, 2, 4}), k = Tensor::zeros({2, 5, 2, 4}), v = Tensor::zeros({2, 5, 2, 6});
  expect_error(
      [&] {
        ops::attention(q, Tensor::zeros({2, 5, 3, 4}), v, nullptr, 1);
      },
      "[attention] expected k [2, Lk, 2, 4] for q f32[2, 7, 2, 4] cpu, got f32[2, 5, 3, 4] cpu");
  expect_error(
      [&] {
        ops::attention(q, k, Tensor::zeros({2, 4, 2, 6}), nullptr, 1);
      },
      "[attention] expected v [2, 5, 2, Dv]");
  const Tensor bad_mask = Tensor::zeros({3, 7, 5});
  expect_error([&] { ops::attention(q, k, v, &bad_mask, 1); },
               "[attention] expected mask [2 or 1, 7, 5], got f32[3, 7, 5] cpu");
  expect_error(
      [&] {
        ops::attention(Tensor::zeros({2, 7, 8}), k, v, nullptr, 1);
      },
      "[attention] expected q [B, Lq, H, D], got f32[2, 7, 8] cpu");
}

}  // namespace
}  // namespace wma::test
