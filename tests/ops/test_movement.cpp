// Data-movement ops: strided and cross-dtype copies, concat, repeat, fill, upsampling, to_device.
#include "op_test_util.h"

namespace wma::test {
namespace {

TEST(Copy, StridedSourceAndDestination) {
  const Tensor src = transposed_view({3, 5, 7}, 1);
  const Tensor dst_base = Tensor::zeros({3, 9, 5});
  const Tensor dst = dst_base.slice(1, 1, 8).transpose(1, 2);  // [3, 5, 7], strided both ways
  ops::copy_into(dst, src);
  expect_close(dst, src.to_floats(), 0, 0);
  // Elements outside the view stay untouched.
  EXPECT_EQ(dst_base.select(1, 0).to_floats(), std::vector<float>(15, 0.0f));
  EXPECT_EQ(dst_base.select(1, 8).to_floats(), std::vector<float>(15, 0.0f));
}

TEST(Copy, ConvertsBetweenDtypes) {
  const Tensor x = Tensor::from_floats({5}, {1.0f, -2.5f, 1.00390625f, 65504.0f, 3.7f});
  const Tensor h = ops::cast(x, DType::F16);
  const Tensor b = ops::cast(x, DType::BF16);
  EXPECT_EQ(h.dtype(), DType::F16);
  EXPECT_EQ(ops::cast(h, DType::F32).to_floats(),
            (std::vector<float>{1.0f, -2.5f, 1.00390625f, 65504.0f, half_to_float(float_to_half(3.7f))}));
  EXPECT_EQ(ops::cast(b, DType::F32).to_floats()[4], bf16_to_float(float_to_bf16(3.7f)));
  EXPECT_EQ(ops::cast(x, DType::I64).to_ints(), (std::vector<std::int64_t>{1, -2, 1, 65504, 3}));  // truncates
  const Tensor big = Tensor::from_ints({2}, {(std::int64_t{1} << 40) + 1, -7});
  const Tensor big_copy = Tensor::empty({2}, DType::I64);
  ops::copy_into(big_copy, big);
  EXPECT_EQ(big_copy.to_ints(), big.to_ints());
  EXPECT_EQ(ops::cast(Tensor::from_ints({2}, {70000, -7}), DType::I32).to_ints(),
            (std::vector<std::int64_t>{70000, -7}));
  EXPECT_EQ(ops::cast(Tensor::from_ints({2}, {3, -7}), DType::F32).to_floats(), (std::vector<float>{3.0f, -7.0f}));
}

TEST(Copy, RejectsShapeMismatch) {
  expect_error([] { ops::copy_into(Tensor::zeros({2, 3}), Tensor::zeros({3, 2})); }, "[copy_into] shapes differ");
}

TEST(Contiguous, ReturnsInputWhenContiguousElseCopies) {
  const Tensor x = random_tensor({4, 6}, 2);
  EXPECT_EQ(ops::contiguous(x).data_ptr(), x.data_ptr());
  const Tensor t = x.transpose(0, 1);
  const Tensor c = ops::contiguous(t);
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.to_floats(), t.to_floats());
  EXPECT_EQ(ops::cast(x, DType::F32).data_ptr(), x.data_ptr());
}

TEST(ToDevice, SameDeviceCopiesAndMissingCudaIsAnError) {
  const Tensor x = padded_view({3, 4}, 3);
  const Tensor y = ops::to_device(x, Device::CPU);
  EXPECT_TRUE(y.is_contiguous());
  EXPECT_NE(y.data_ptr(), x.data_ptr());
  EXPECT_EQ(y.to_floats(), x.to_floats());
  if (!cuda_compiled()) expect_error([&] { ops::to_device(x, Device::CUDA); }, "[to_device] this build has no CUDA");
}

TEST(Concat, MatchesNaiveAlongEachDim) {
  for (int dim : {0, 1, 2, -1}) {
    const Shape sa{2, 3, 5}, sb_base{2, 3, 5};
    Shape sb = sb_base, sc = sb_base;
    const int d = dim < 0 ? dim + 3 : dim;
    sb[d] = 1;
    sc[d] = 4;
    const Tensor a = random_tensor(sa, 10), b = padded_view(sb, 11), c = transposed_view(sc, 12);
    const Tensor out = ops::concat({a, b, c}, dim);
    Shape so = sa;
    so[d] = sa[d] + 1 + 4;
    ASSERT_EQ(out.shape(), so);
    const auto av = a.to_floats(), bv = b.to_floats(), cv = c.to_floats();
    std::vector<float> expected(static_cast<std::size_t>(shape_numel(so)));
    for (std::int64_t i = 0; i < so[0]; ++i)
      for (std::int64_t j = 0; j < so[1]; ++j)
        for (std::int64_t k = 0; k < so[2]; ++k) {
          std::vector<std::int64_t> idx{i, j, k};
          const std::int64_t o = flat(so, idx);
          if (idx[d] < sa[d]) {
            expected[o] = av[flat(sa, idx)];
          } else if (idx[d] < sa[d] + 1) {
            idx[d] -= sa[d];
            expected[o] = bv[flat(sb, idx)];
          } else {
            idx[d] -= sa[d] + 1;
            expected[o] = cv[flat(sc, idx)];
          }
        }
    expect_close(out, expected, 0, 0);
  }
}

TEST(Concat, RejectsMismatchedShapesAndDtypes) {
  expect_error(
      [] {
        ops::concat({Tensor::zeros({2, 3}), Tensor::zeros({3, 3})}, 1);
      },
      "[concat] xs[1] f32[3, 3] cpu does not match xs[0] f32[2, 3] cpu outside dim 1");
  expect_error(
      [] {
        ops::concat({Tensor::zeros({2, 3}), Tensor::zeros({2, 3}, DType::F16)}, 0);
      },
      "[concat] a tensor has dtype f16 but xs[0] has f32");
  expect_error([] { ops::concat({}, 0); }, "[concat] needs at least one tensor");
}

TEST(Repeat, TilesAndInterleaves) {
  const Tensor x = Tensor::from_floats({2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(ops::repeat(x, 0, 2).to_floats(), (std::vector<float>{1, 2, 3, 4, 1, 2, 3, 4}));
  EXPECT_EQ(ops::repeat(x, 1, 2).to_floats(), (std::vector<float>{1, 2, 1, 2, 3, 4, 3, 4}));
  EXPECT_EQ(ops::repeat_interleave(x, 0, 2).to_floats(), (std::vector<float>{1, 2, 1, 2, 3, 4, 3, 4}));
  EXPECT_EQ(ops::repeat_interleave(x, -1, 3).to_floats(), (std::vector<float>{1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4}));
}

TEST(Repeat, MatchesNaiveOnStridedInput) {
  const Shape s{3, 5, 2};
  const Tensor x = transposed_view(s, 20);
  const auto xv = x.to_floats();
  const Tensor tiled = ops::repeat(x, 1, 3), inter = ops::repeat_interleave(x, 1, 3);
  const Shape so{3, 15, 2};
  ASSERT_EQ(tiled.shape(), so);
  std::vector<float> et(45 * 2), ei(45 * 2);
  for (std::int64_t i = 0; i < 3; ++i)
    for (std::int64_t j = 0; j < 15; ++j)
      for (std::int64_t k = 0; k < 2; ++k) {
        et[flat(so, {i, j, k})] = xv[flat(s, {i, j % 5, k})];
        ei[flat(so, {i, j, k})] = xv[flat(s, {i, j / 3, k})];
      }
  expect_close(tiled, et, 0, 0);
  expect_close(inter, ei, 0, 0);
  EXPECT_EQ(ops::repeat(x, 0, 0).shape(), (Shape{0, 5, 2}));
  expect_error([&] { ops::repeat(x, 3, 2); }, "[repeat] dimension 3 out of range for rank 3");
}

TEST(Fill, WritesOnlyTheViewInEveryDtype) {
  const Tensor base = Tensor::zeros({4, 5});
  ops::fill(base.slice(1, 1, 3), 2.5f);
  EXPECT_EQ(base.to_floats(),
            (std::vector<float>{0, 2.5, 2.5, 0, 0, 0, 2.5, 2.5, 0, 0, 0, 2.5, 2.5, 0, 0, 0, 2.5, 2.5, 0, 0}));
  for (DType t : {DType::F16, DType::BF16, DType::I32, DType::I64}) {
    const Tensor x = Tensor::empty({3}, t);
    ops::fill(x, 3.0f);
    EXPECT_EQ(x.to_floats(), (std::vector<float>{3, 3, 3})) << dtype_name(t);
  }
}

TEST(Upsample, NearestTwoX) {
  const Shape s{2, 3, 5, 3};
  const Tensor x = padded_view(s, 30);
  const auto xv = x.to_floats();
  const Tensor y = ops::upsample_nearest2x(x);
  const Shape so{2, 6, 10, 3};
  ASSERT_EQ(y.shape(), so);
  std::vector<float> e(static_cast<std::size_t>(shape_numel(so)));
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t i = 0; i < 6; ++i)
      for (std::int64_t j = 0; j < 10; ++j)
        for (std::int64_t c = 0; c < 3; ++c) e[flat(so, {n, i, j, c})] = xv[flat(s, {n, i / 2, j / 2, c})];
  expect_close(y, e, 0, 0);
  expect_error(
      [] {
        ops::upsample_nearest2x(Tensor::zeros({2, 3}));
      },
      "[upsample_nearest2x] expected x [N, H, W, C], got f32[2, 3] cpu");
}

}  // namespace
}  // namespace wma::test
