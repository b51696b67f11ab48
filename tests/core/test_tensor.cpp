#include <gtest/gtest.h>

#include "core/dtype.h"
#include "core/tensor.h"

namespace wma {
namespace {

TEST(Tensor, ViewsShareStorageAndComputeOffsets) {
  std::vector<float> v(24);
  for (int i = 0; i < 24; ++i) v[i] = static_cast<float>(i);
  Tensor t = Tensor::from_floats({2, 3, 4}, v);
  Tensor p = t.permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_FALSE(p.is_contiguous());
  auto f = p.to_floats();
  EXPECT_EQ(f[0], 0.0f);
  EXPECT_EQ(f[1], 4.0f);   // p[0,0,1] = t[0,1,0]
  EXPECT_EQ(f[3], 12.0f);  // p[0,1,0] = t[1,0,0]
  Tensor s = t.slice(2, 1, 3).select(0, 1);
  EXPECT_EQ(s.shape(), (Shape{3, 2}));
  EXPECT_EQ(s.to_floats()[0], 13.0f);
  EXPECT_THROW(p.reshape({8, 3}), Error);
  EXPECT_THROW(t.slice(1, 2, 4), Error);
}

TEST(Tensor, ExpandMakesStrideZeroViews) {
  Tensor t = Tensor::from_floats({1, 3}, {1, 2, 3});
  Tensor e = t.expand({2, 3});
  EXPECT_EQ(e.to_floats(), (std::vector<float>{1, 2, 3, 1, 2, 3}));
  EXPECT_THROW(t.expand({2, 4}), Error);
}

TEST(DType, HalfAndBf16RoundToNearestEven) {
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);
  EXPECT_EQ(float_to_half(5.960464477539063e-08f), 0x0001);   // smallest subnormal
  EXPECT_EQ(float_to_half(2.9802322387695312e-08f), 0x0000);  // half of it: ties to even
  EXPECT_EQ(half_to_float(0x0001), 5.960464477539063e-08f);
  EXPECT_EQ(half_to_float(0xc000), -2.0f);
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bf16(bits_float(0x3f808000u)), 0x3f80);  // tie -> even
  EXPECT_EQ(float_to_bf16(bits_float(0x3f818000u)), 0x3f82);
  for (std::uint32_t h = 0; h < 0x7c00; ++h) EXPECT_EQ(float_to_half(half_to_float(h)), h);
}

}  // namespace
}  // namespace wma
