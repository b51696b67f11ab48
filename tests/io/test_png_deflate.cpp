// The deflate encoder (io/deflate.h) and the PNG writer (io/png.h): what they write decodes back through our
// inflater and PNG reader, runs compress, noise is stored instead of expanded, and images of at most 256
// colours become palette PNGs.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "io/deflate.h"
#include "io/gzip.h"
#include "io/png.h"
#include "io/png_read.h"

namespace wma::io {
namespace {

std::vector<std::uint8_t> round_trip(const std::vector<std::uint8_t>& data) {
  const std::vector<std::uint8_t> z = zlib_compress(data.data(), data.size());
  EXPECT_GE(z.size(), 6u);
  EXPECT_EQ((z[0] * 256 + z[1]) % 31, 0) << "zlib header check bits";
  EXPECT_EQ(z[0] & 0x0f, 8) << "deflate";
  std::size_t consumed = 0;
  const std::vector<std::uint8_t> back = inflate_raw(z.data() + 2, z.size() - 6, &consumed);
  EXPECT_EQ(consumed, z.size() - 6) << "the Adler-32 trailer follows the deflate stream";
  const std::uint32_t adler = (std::uint32_t{z[z.size() - 4]} << 24) | (std::uint32_t{z[z.size() - 3]} << 16) |
                              (std::uint32_t{z[z.size() - 2]} << 8) | z[z.size() - 1];
  EXPECT_EQ(adler, adler32(data.data(), data.size()));
  return back;
}

std::vector<std::uint8_t> noise(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v(n);
  for (std::uint8_t& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

TEST(Deflate, Adler32OfAKnownString) {
  const std::string s = "Wikipedia";
  EXPECT_EQ(adler32(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()), 0x11E60398u);
  EXPECT_EQ(adler32(nullptr, 0), 1u);
}

TEST(Deflate, RoundTripsThroughInflate) {
  std::vector<std::vector<std::uint8_t>> cases = {{}, {'a'}, std::vector<std::uint8_t>(1 << 20, 0)};
  std::string text;
  for (int i = 0; i < 3000; ++i) text += "step " + std::to_string(i % 97) + ", joint " + std::to_string(i % 7) + "\n";
  cases.emplace_back(text.begin(), text.end());
  // A 30000-byte pattern repeated: matches near the window's far end, across 64 KiB block boundaries.
  const std::vector<std::uint8_t> period = noise(30000, 1);
  std::vector<std::uint8_t> repeated;
  for (int i = 0; i < 5; ++i) repeated.insert(repeated.end(), period.begin(), period.end());
  cases.push_back(repeated);
  cases.push_back(noise(200000, 2));
  for (std::size_t i = 0; i < cases.size(); ++i) EXPECT_EQ(round_trip(cases[i]), cases[i]) << "case " << i;
}

TEST(Deflate, CompressesRunsAndStoresNoise) {
  const std::vector<std::uint8_t> zeros(1 << 20, 0), random = noise(200000, 3);
  EXPECT_LT(zlib_compress(zeros.data(), zeros.size()).size(), zeros.size() / 100);
  // Stored blocks: 5 header bytes per 64 KiB block, plus the zlib header and trailer.
  EXPECT_LE(zlib_compress(random.data(), random.size()).size(), random.size() + 5 * 4 + 6);
}

class PngWriter : public ::testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove(path_); }
  // Writes `image`, checks that it reads back unchanged; returns the file's bytes.
  std::string write_and_read(const Rgb8Image& image) {
    write_png(path_, image);
    const Rgb8Image back = read_png(path_);
    EXPECT_EQ(back.width, image.width);
    EXPECT_EQ(back.height, image.height);
    EXPECT_EQ(back.pixels, image.pixels);
    std::ifstream f(path_, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  }
  const std::string path_ =
      (std::filesystem::temp_directory_path() / ("wma_png_writer_" + std::to_string(::getpid()) + ".png")).string();
};

TEST_F(PngWriter, FewColoursMakeAPaletteImage) {
  Rgb8Image img{800, 400, std::vector<std::uint8_t>(800 * 400 * 3, 255)};
  for (int x = 0; x < 800; ++x)
    for (int t = 0; t < 3; ++t) {
      const int y = 200 + static_cast<int>(150 * std::sin(x / 40.0)) + t;
      const std::uint8_t colour[3] = {31, 119, static_cast<std::uint8_t>(180 - 40 * t)};
      std::copy(colour, colour + 3, &img.pixels[(static_cast<std::size_t>(y) * 800 + x) * 3]);
    }
  const std::string bytes = write_and_read(img);
  EXPECT_EQ(bytes[25], 3) << "colour type: palette";
  EXPECT_NE(bytes.find("PLTE"), std::string::npos);
  EXPECT_LT(bytes.size(), 20000u) << "960 KB stored";
}

TEST_F(PngWriter, ManyColoursStayTruecolour) {
  Rgb8Image img{97, 61, noise(97 * 61 * 3, 4)};
  EXPECT_EQ(write_and_read(img)[25], 2) << "colour type: RGB";
  // A smooth gradient: the row filters make it compress.
  Rgb8Image gradient{256, 256, {}};
  for (int y = 0; y < 256; ++y)
    for (int x = 0; x < 256; ++x)
      gradient.pixels.insert(gradient.pixels.end(), {static_cast<std::uint8_t>(x), static_cast<std::uint8_t>(y),
                                                     static_cast<std::uint8_t>((x + y) / 2)});
  const std::string bytes = write_and_read(gradient);
  EXPECT_EQ(bytes[25], 2);
  EXPECT_LT(bytes.size(), 256u * 256 * 3 / 10);
}

}  // namespace
}  // namespace wma::io
