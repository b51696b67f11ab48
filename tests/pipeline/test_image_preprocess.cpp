// Observation preprocessing against torchvision's output (tools/testdata/make_preprocess_testdata.py).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "pipeline/image_preprocess.h"

namespace wma::pipeline {
namespace {

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

std::string data_dir() { return std::string(std::getenv("WMA_SOURCE_DIR")) + "/tests/data/preprocess/"; }

struct Case {
  const char* name;
  std::int64_t h, w, size, crop_h, crop_w;
};

TEST(ImagePreprocess, MatchesTorchvisionBitForBit) {
  const Case cases[] = {{"landscape_60x80", 60, 80, 32, 32, 51},
                        {"portrait_70x50", 70, 50, 24, 20, 24},
                        {"upscale_9x13", 9, 13, 16, 16, 16},
                        {"quarter_120x160", 120, 160, 80, 80, 128}};
  for (const auto& c : cases) {
    const auto rgb = read_bytes(data_dir() + c.name + ".rgb8");
    const auto expected_bytes = read_bytes(data_dir() + c.name + ".f32");
    ASSERT_EQ(static_cast<std::int64_t>(rgb.size()), c.h * c.w * 3) << c.name;
    std::vector<std::int64_t> pixels(rgb.begin(), rgb.end());
    for (auto& p : pixels) p = static_cast<unsigned char>(p);
    Tensor image = Tensor::from_ints({c.h, c.w, 3}, pixels);
    Tensor y =
        center_crop(resize_short_side(Tensor::from_floats({3, c.h, c.w}, image.permute({2, 0, 1}).to_floats()), c.size),
                    c.crop_h, c.crop_w);
    std::vector<float> got = y.to_floats();
    for (float& v : got) v = (v / 255.0f - 0.5f) * 2.0f;
    std::vector<float> expected(expected_bytes.size() / 4);
    std::memcpy(expected.data(), expected_bytes.data(), expected_bytes.size());
    ASSERT_EQ(got.size(), expected.size()) << c.name;
    int mismatches = 0;
    for (std::size_t i = 0; i < got.size(); ++i) mismatches += got[i] != expected[i];
    EXPECT_EQ(mismatches, 0) << c.name;
  }
}

TEST(ImagePreprocess, CenterCropPadsWithZerosLikeTorchvision) {
  Tensor x = Tensor::full({1, 2, 3}, 5.0f);
  Tensor y = center_crop(x, 2, 8);
  EXPECT_EQ(y.to_floats(), (std::vector<float>{0, 0, 5, 5, 5, 0, 0, 0, 0, 0, 5, 5, 5, 0, 0, 0}));
}

TEST(ImagePreprocess, RejectsWrongRank) { EXPECT_THROW(resize_bilinear_antialias(Tensor::zeros({4, 4}), 2, 2), Error); }

}  // namespace
}  // namespace wma::pipeline
