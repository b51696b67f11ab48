// Picture decoding (io/image_read.h, png_read.h, jpeg_read.h) against PIL: every file under tests/data/images/
// (tools/testdata/make_image_fixtures.py) next to the RGB8 pixels PIL's `Image.open(f).convert("RGB")` gives
// for it (<name>.ppm). Our PNG decoder always runs; libpng and libjpeg where the build has them.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/image_read.h"
#include "io/jpeg_read.h"
#include "io/png_read.h"
#include "io_test_util.h"

namespace wma::io {
namespace {

namespace fs = std::filesystem;

const char* const kPngFixtures[] = {"rgb8.png",          "rgba8.png",        "grey8.png",          "grey_alpha8.png",
                                    "palette8_trns.png", "palette4.png",     "palette4_short.png", "bilevel1.png",
                                    "grey2.png",         "grey4.png",        "grey16.png",         "rgb16.png",
                                    "rgba16.png",        "grey_alpha16.png", "rgb8_adam7.png",     "palette2_adam7.png",
                                    "rgba16_adam7.png",  "grey16_adam7.png", "tiny_rgb8_adam7.png"};

const char* const kJpegFixtures[] = {"baseline420.jpg",    "baseline422.jpg",    "baseline444.jpg", "grey.jpg",
                                     "progressive420.jpg", "progressive444.jpg", "restart420.jpg"};

std::string fixture(const std::string& name) { return testing::source_dir() + "/tests/data/images/" + name; }

std::vector<std::uint8_t> file_bytes(const std::string& path) {
  const std::string s = testing::read_text(path);
  return {s.begin(), s.end()};
}

// PIL's pixels for `name`: the binary PPM the fixture script wrote ("P6\n<w> <h>\n255\n" + RGB bytes).
Rgb8Image pil_pixels(const std::string& name) {
  const std::string ppm = testing::read_text(fixture(fs::path(name).replace_extension(".ppm").string()));
  Rgb8Image image;
  int consumed = 0;
  EXPECT_EQ(std::sscanf(ppm.c_str(), "P6 %d %d 255%n", &image.width, &image.height, &consumed), 2) << name;
  image.pixels.assign(ppm.begin() + consumed + 1, ppm.end());
  EXPECT_EQ(image.pixels.size(), static_cast<std::size_t>(image.width) * image.height * 3) << name;
  return image;
}

// The largest per-sample difference, or -1 when the sizes differ.
int max_difference(const Rgb8Image& a, const Rgb8Image& b) {
  if (a.width != b.width || a.height != b.height || a.pixels.size() != b.pixels.size()) return -1;
  int worst = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) worst = std::max(worst, std::abs(a.pixels[i] - b.pixels[i]));
  return worst;
}

using Decoder = Rgb8Image (*)(const std::uint8_t*, std::size_t, const std::string&);

void expect_same_as_pil(Decoder decode, const char* const* names, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    const std::vector<std::uint8_t> bytes = file_bytes(fixture(names[i]));
    const Rgb8Image ours = decode(bytes.data(), bytes.size(), names[i]);
    const Rgb8Image pil = pil_pixels(names[i]);
    EXPECT_EQ(ours.width, pil.width) << names[i];
    EXPECT_EQ(ours.height, pil.height) << names[i];
    EXPECT_EQ(max_difference(ours, pil), 0) << names[i];
  }
}

std::string error_of(Decoder decode, const std::vector<std::uint8_t>& bytes, const std::string& name) {
  try {
    decode(bytes.data(), bytes.size(), name);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ImageRead, OurPngDecoderGivesPilsPixels) { expect_same_as_pil(decode_png, kPngFixtures, std::size(kPngFixtures)); }

TEST(ImageRead, LibpngGivesPilsPixels) {
#if WMA_WITH_LIBPNG
  expect_same_as_pil(decode_png_libpng, kPngFixtures, std::size(kPngFixtures));
#else
  GTEST_SKIP() << "this build has no libpng (WMA_WITH_LIBPNG off)";
#endif
}

TEST(ImageRead, LibjpegGivesPilsPixels) {
#if WMA_WITH_LIBJPEG
  expect_same_as_pil(decode_jpeg, kJpegFixtures, std::size(kJpegFixtures));
#else
  GTEST_SKIP() << "this build has no libjpeg (WMA_WITH_LIBJPEG off)";
#endif
}

TEST(ImageRead, FormatComesFromTheBytesNotTheName) {
  const auto dir = testing::temp_dir("image");
  fs::copy_file(fixture("rgb8_adam7.png"), dir / "frame.jpg");
  EXPECT_EQ(max_difference(read_image((dir / "frame.jpg").string()), pil_pixels("rgb8_adam7.png")), 0);
  fs::copy_file(fixture("baseline420.jpg"), dir / "frame.png");
#if WMA_WITH_LIBJPEG
  EXPECT_EQ(max_difference(read_image((dir / "frame.png").string()), pil_pixels("baseline420.jpg")), 0);
#else
  const std::string err = error_of(decode_image, file_bytes((dir / "frame.png").string()), "frame.png");
  EXPECT_NE(err.find("[jpeg] frame.png: this build reads no JPEG: it needs libjpeg"), std::string::npos) << err;
#endif
  const std::vector<std::uint8_t> text = {'G', 'I', 'F', '8', '9', 'a'};
  EXPECT_NE(error_of(decode_image, text, "x.gif").find("[image] x.gif: neither a PNG nor a JPEG"), std::string::npos);
  EXPECT_NE(error_of(decode_image, {}, "empty.png").find("neither a PNG nor a JPEG"), std::string::npos);
}

TEST(ImageRead, InvalidPngHeadersAreRefused) {
  std::vector<std::uint8_t> png = file_bytes(fixture("rgb8.png"));
  // IHDR's body starts at byte 16 (signature, length, type); its CRC follows at 29.
  auto with_ihdr = [&](std::size_t offset, std::uint8_t value) {
    std::vector<std::uint8_t> p = png;
    p[16 + offset] = value;
    const std::uint32_t crc = crc32(&p[12], 17);
    for (int i = 0; i < 4; ++i) p[29 + i] = static_cast<std::uint8_t>(crc >> (24 - 8 * i));
    return p;
  };
  std::vector<Decoder> decoders = {decode_png};
#if WMA_WITH_LIBPNG
  decoders.push_back(decode_png_libpng);
#endif
  for (Decoder decode : decoders) {
    EXPECT_NE(error_of(decode, with_ihdr(8, 4), "d.png"), "");   // 4-bit RGB
    EXPECT_NE(error_of(decode, with_ihdr(9, 5), "c.png"), "");   // colour type 5
    EXPECT_NE(error_of(decode, with_ihdr(12, 2), "i.png"), "");  // interlace method 2
  }
  EXPECT_NE(error_of(decode_png, with_ihdr(8, 4), "d.png").find("bit depth 4 is invalid for colour type 2"),
            std::string::npos);
  // A palette image whose PLTE is gone: the chunk's type renamed to an ancillary one that every reader skips.
  std::vector<std::uint8_t> pal = file_bytes(fixture("palette4.png"));
  const auto plte = std::search(pal.begin(), pal.end(), std::begin("PLTE"), std::end("PLTE") - 1);
  ASSERT_NE(plte, pal.end());
  *plte = 'p';
  const std::uint32_t len = (std::uint32_t{plte[-4]} << 24) | (plte[-3] << 16) | (plte[-2] << 8) | plte[-1];
  const std::uint32_t crc = crc32(&*plte, len + 4);
  for (int i = 0; i < 4; ++i) plte[4 + len + i] = static_cast<std::uint8_t>(crc >> (24 - 8 * i));
  for (Decoder decode : decoders) EXPECT_NE(error_of(decode, pal, "p.png"), "");
  EXPECT_NE(error_of(decode_png, pal, "p.png").find("palette image without PLTE"), std::string::npos);
}

#if WMA_WITH_LIBJPEG

long peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

// The frame header's height and width (ITU T.81 B.2.2: marker, length, precision, then Y and X, big-endian).
std::vector<std::uint8_t> with_jpeg_size(std::vector<std::uint8_t> jpeg, std::uint16_t width, std::uint16_t height) {
  for (std::size_t i = 2; i + 9 < jpeg.size(); ++i)
    if (jpeg[i] == 0xFF && (jpeg[i + 1] == 0xC0 || jpeg[i + 1] == 0xC2)) {
      jpeg[i + 5] = static_cast<std::uint8_t>(height >> 8);
      jpeg[i + 6] = static_cast<std::uint8_t>(height);
      jpeg[i + 7] = static_cast<std::uint8_t>(width >> 8);
      jpeg[i + 8] = static_cast<std::uint8_t>(width);
      return jpeg;
    }
  ADD_FAILURE() << "no frame header";
  return jpeg;
}

TEST(HostileJpeg, OversizedFrameIsRefusedBeforeDecoding) {
  for (const char* name : {"baseline420.jpg", "progressive444.jpg"}) {
    const std::vector<std::uint8_t> jpeg = file_bytes(fixture(name));
    const long rss0 = peak_rss_mib();
    EXPECT_NE(error_of(decode_jpeg, with_jpeg_size(jpeg, 20000, 16), "big.jpg")
                  .find("[jpeg] big.jpg: image is 20000x16; each side may be at most 16384"),
              std::string::npos);
    EXPECT_NE(error_of(decode_jpeg, with_jpeg_size(jpeg, 16384, 16384), "big.jpg")
                  .find("268435456 pixels; at most 67108864"),
              std::string::npos);
    EXPECT_LT(peak_rss_mib() - rss0, 64) << name;
  }
}

TEST(HostileJpeg, TruncatedFileIsRefused) {
  for (const char* name : {"baseline444.jpg", "progressive420.jpg"}) {
    std::vector<std::uint8_t> jpeg = file_bytes(fixture(name));
    jpeg.resize(jpeg.size() * 2 / 3);
    const std::string err = error_of(decode_jpeg, jpeg, name);
    EXPECT_NE(err.find("Premature end of JPEG file"), std::string::npos) << name << ": " << err;
  }
}

TEST(HostileJpeg, ScansAreLimited) {
  // The progressive file's last scan repeated until there are more than kJpegMaxScans: each repeat is only a
  // warning to libjpeg (an inconsistent progression), and each costs a pass over the coefficients.
  std::vector<std::uint8_t> jpeg = file_bytes(fixture("progressive420.jpg"));
  std::size_t last_sos = 0;
  for (std::size_t i = 0; i + 1 < jpeg.size(); ++i)
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xDA) last_sos = i;
  ASSERT_GT(last_sos, 0u);
  ASSERT_EQ(jpeg[jpeg.size() - 2], 0xFF);
  ASSERT_EQ(jpeg.back(), 0xD9);
  const std::vector<std::uint8_t> scan(jpeg.begin() + static_cast<std::ptrdiff_t>(last_sos), jpeg.end() - 2);
  std::vector<std::uint8_t> many(jpeg.begin(), jpeg.end() - 2);
  for (int i = 0; i < kJpegMaxScans; ++i) many.insert(many.end(), scan.begin(), scan.end());
  many.insert(many.end(), {0xFF, 0xD9});
  const auto t0 = std::chrono::steady_clock::now();
  const std::string err = error_of(decode_jpeg, many, "scans.jpg");
  EXPECT_NE(err.find("[jpeg] scans.jpg: more than 500 scans"), std::string::npos) << err;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
}

#endif

}  // namespace
}  // namespace wma::io
