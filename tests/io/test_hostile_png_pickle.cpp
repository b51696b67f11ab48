// Hostile PNGs and pickles (issue 20): each input is built here, and must fail (or parse) fast and in bounded
// memory. Peak-RSS deltas are per process; ctest runs every test in its own process.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include "core/error.h"
#include "io/pickle.h"
#include "io/png.h"
#include "io/png_read.h"
#include "io_test_util.h"

namespace wma::io {
namespace {

using namespace std::string_literals;

// Sanitizer and debug builds (CI runs the io tests under ASan/UBSan at -O0) are many times slower and keep freed
// memory in quarantine (ASan: 256 MiB by default): the bounds scale there, still far below what an unbounded
// parse takes (2.5 GB for the 4M-list pickle below).
#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
constexpr double kTimeScale = 20.0;
constexpr long kMemoryScale = 16;
#else
constexpr double kTimeScale = 1.0;
constexpr long kMemoryScale = 1;
#endif

long peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// DEFLATE bits, least significant first (RFC 1951 3.1.1); Huffman codes go most significant bit first.
class BitWriter {
 public:
  void bits(std::uint32_t value, int n) {
    for (int i = 0; i < n; ++i) put((value >> i) & 1u);
  }
  void code(std::uint32_t code, int n) {
    for (int i = n - 1; i >= 0; --i) put((code >> i) & 1u);
  }
  std::vector<std::uint8_t> finish() {
    if (bit_ != 0) out_.push_back(cur_);
    return out_;
  }

 private:
  void put(std::uint32_t b) {
    cur_ = static_cast<std::uint8_t>(cur_ | (b << bit_));
    if (++bit_ == 8) {
      out_.push_back(cur_);
      cur_ = 0;
      bit_ = 0;
    }
  }
  std::vector<std::uint8_t> out_;
  std::uint8_t cur_ = 0;
  int bit_ = 0;
};

// A zlib stream of `n` zero bytes: one fixed-Huffman block of a literal 0 and <length 258, distance 1> copies,
// 13 bits per 258 bytes, as zlib's own output for zeros (about 1000:1).
std::vector<std::uint8_t> zlib_zeros(std::uint64_t n) {
  BitWriter w;
  w.bits(1, 1);  // BFINAL
  w.bits(1, 2);  // fixed Huffman
  std::uint64_t left = n;
  if (left > 0) {
    w.code(0x30, 8);  // literal 0
    --left;
  }
  for (; left >= 258; left -= 258) {
    w.code(0xC5, 8);  // length symbol 285 = 258
    w.code(0, 5);     // distance code 0 = 1
  }
  for (; left > 0; --left) w.code(0x30, 8);
  w.code(0, 7);  // end of block
  std::vector<std::uint8_t> z = {0x78, 0x01};
  const std::vector<std::uint8_t> body = w.finish();
  z.insert(z.end(), body.begin(), body.end());
  const std::uint32_t adler = static_cast<std::uint32_t>(n % 65521) << 16 | 1u;
  for (int s = 24; s >= 0; s -= 8) z.push_back(static_cast<std::uint8_t>(adler >> s));
  return z;
}

void chunk(std::string& png, const char* type, const std::vector<std::uint8_t>& body) {
  const auto be32 = [&](std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) png += static_cast<char>(v >> s);
  };
  be32(static_cast<std::uint32_t>(body.size()));
  std::vector<std::uint8_t> crc_input(type, type + 4);
  crc_input.insert(crc_input.end(), body.begin(), body.end());
  png.append(type, 4);
  png.append(body.begin(), body.end());
  be32(crc32(crc_input.data(), crc_input.size()));
}

// An 8-bit RGB PNG declaring width x height whose image data inflates to `inflated` zero bytes.
std::string rgb_png(std::uint32_t width, std::uint32_t height, std::uint64_t inflated) {
  std::string png = "\x89PNG\r\n\x1a\n";
  std::vector<std::uint8_t> ihdr;
  for (std::uint32_t v : {width, height})
    for (int s = 24; s >= 0; s -= 8) ihdr.push_back(static_cast<std::uint8_t>(v >> s));
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", zlib_zeros(inflated));
  chunk(png, "IEND", {});
  return png;
}

std::string write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path.string();
}

std::string png_error(const std::string& path) {
  try {
    read_png(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(HostilePng, ZeroImageOfTheDeclaredSizeDecodes) {
  const auto dir = testing::temp_dir("png");
  const Rgb8Image image = read_png(write_file(dir / "ok.png", rgb_png(5, 3, 3 * (1 + 5 * 3))));
  EXPECT_EQ(image.width, 5);
  EXPECT_EQ(image.height, 3);
  EXPECT_EQ(image.pixels, std::vector<std::uint8_t>(5 * 3 * 3, 0));
}

TEST(HostilePng, ImageDataLongerThanDeclaredIsRefused) {
  const auto dir = testing::temp_dir("png");
  const std::string path = write_file(dir / "long.png", rgb_png(5, 3, 3 * (1 + 5 * 3) + 1));
  const std::string err = png_error(path);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("decodes to more than 48 bytes"), std::string::npos) << err;
}

TEST(HostilePng, DecompressionBombFailsFastInBoundedMemory) {
  const auto dir = testing::temp_dir("png");
  // 1x1 RGB whose 6.5 MB IDAT inflates to 1 GiB of zeros.
  const std::string path = write_file(dir / "bomb.png", rgb_png(1, 1, std::uint64_t{1} << 30));
  const long rss0 = peak_rss_mib();
  const auto t0 = std::chrono::steady_clock::now();
  const std::string err = png_error(path);
  const double s = seconds_since(t0);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("1x1 image (4 bytes once inflated)"), std::string::npos) << err;
  EXPECT_LT(s, 1.0 * kTimeScale);
  EXPECT_LT(peak_rss_mib() - rss0, 64 * kMemoryScale);
}

TEST(HostilePng, OversizedHeaderIsRefusedBeforeInflating) {
  const auto dir = testing::temp_dir("png");
  struct Case {
    std::uint32_t width, height;
    const char* message;
  };
  for (const Case& c :
       {Case{20000, 20000, "each side may be at most 16384"}, Case{1, 32768, "each side may be at most 16384"},
        Case{16384, 16384, "268435456 pixels; at most 67108864"},
        Case{0xFFFFFFFFu, 0xFFFFFFFFu, "each side may be at most 16384"}}) {
    // Image data of the declared size: 1.2 GB inflated for 20000x20000, which the reader must never produce.
    const std::uint64_t inflated = c.width <= 20000 ? std::uint64_t{c.height} * (1 + std::uint64_t{c.width} * 3) : 16;
    const std::string path = write_file(dir / "big.png", rgb_png(c.width, c.height, inflated));
    const long rss0 = peak_rss_mib();
    const auto t0 = std::chrono::steady_clock::now();
    const std::string err = png_error(path);
    EXPECT_LT(seconds_since(t0), 1.0 * kTimeScale) << c.width << "x" << c.height;
    EXPECT_LT(peak_rss_mib() - rss0, 64 * kMemoryScale) << c.width << "x" << c.height;
    EXPECT_NE(err.find(path), std::string::npos) << err;
    EXPECT_NE(err.find(c.message), std::string::npos) << err;
  }
}

#if WMA_WITH_LIBPNG
// libpng, which read_image uses in this build, under the same bounds: it inflates no further than the rows the
// header declares, so a bomb costs as little but decodes (as in PIL) instead of failing.
TEST(HostilePng, LibpngKeepsTheSameBounds) {
  auto decode = [&](const std::string& png) {
    return decode_png_libpng(reinterpret_cast<const std::uint8_t*>(png.data()), png.size(), "f.png");
  };
  const std::string bomb = rgb_png(1, 1, std::uint64_t{1} << 30);
  const long rss0 = peak_rss_mib();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(decode(bomb).pixels, std::vector<std::uint8_t>(3, 0));
  EXPECT_LT(seconds_since(t0), 1.0 * kTimeScale);
  for (const auto& [width, height, message] : {std::tuple{20000u, 20000u, "each side may be at most 16384"},
                                               std::tuple{16384u, 16384u, "268435456 pixels; at most 67108864"}}) {
    try {
      decode(rgb_png(width, height, std::uint64_t{height} * (1 + std::uint64_t{width} * 3)));
      ADD_FAILURE() << width << "x" << height << " decoded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("[png] f.png: image is ") + std::to_string(width)),
                std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }
  EXPECT_LT(seconds_since(t0), 2.0 * kTimeScale);
  EXPECT_LT(peak_rss_mib() - rss0, 64 * kMemoryScale);
}
#endif

// --- pickle ---

void put_le(std::string& p, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) p += static_cast<char>(v >> (8 * i));
}

void binunicode(std::string& p, const std::string& s) {
  p += 'X';
  put_le(p, s.size(), 4);
  p += s;
}

std::string pickle_error(const std::string& p) {
  try {
    pickle::unpickle(reinterpret_cast<const std::uint8_t*>(p.data()), p.size(), "hostile.pkl");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(HostilePickle, DictWith200kKeysParsesFast) {
  constexpr int kKeys = 200000;
  std::string p = "\x80\x02}(";
  for (int i = 0; i < kKeys; ++i) {
    binunicode(p, "key" + std::to_string(i));
    p += 'J';
    put_le(p, static_cast<std::uint32_t>(i), 4);
  }
  p += 'u';
  // A repeated key replaces the value in place, as in Python.
  binunicode(p, "key0");
  p += "K\x07s.";
  const auto t0 = std::chrono::steady_clock::now();
  const pickle::Document doc = pickle::unpickle(reinterpret_cast<const std::uint8_t*>(p.data()), p.size(), "keys.pkl");
  EXPECT_LT(seconds_since(t0), 2.0 * kTimeScale);
  ASSERT_EQ(doc.root()->entries().size(), static_cast<std::size_t>(kKeys));
  EXPECT_EQ(doc.root()->entries()[0].second->integer, 7);
  EXPECT_EQ(doc.root()->entries()[0].first->text, "key0");
  ASSERT_NE(doc.root()->find("key123456"), nullptr);
  EXPECT_EQ(doc.root()->find("key123456")->integer, 123456);
  EXPECT_EQ(doc.root()->find("key200000"), nullptr);
}

TEST(HostilePickle, ManySmallOpcodesRunInBoundedMemory) {
  // 4M times: a one-item list made and dropped (20 MB; the old reader kept every value, 2.5 GB).
  std::string p = "\x80\x02N";
  for (int i = 0; i < 4000000; ++i)
    p += "]K\x01"
         "a0";
  p += '.';
  const long rss0 = peak_rss_mib();
  const auto t0 = std::chrono::steady_clock::now();
  const pickle::Document doc = pickle::unpickle(reinterpret_cast<const std::uint8_t*>(p.data()), p.size(), "long.pkl");
  EXPECT_LT(seconds_since(t0), 5.0 * kTimeScale);
  EXPECT_LT(peak_rss_mib() - rss0, 64 * kMemoryScale);
  EXPECT_EQ(doc.root()->kind, pickle::Object::Kind::None);
}

TEST(HostilePickle, MemoisedValuesSurviveCollections) {
  // memo[0] = [(7,)], dropped from the stack; 300k values made and dropped; memo[0] fetched back.
  std::string p = "\x80\x02]q\x00(K\x07tq\x01"
                  "a0"s;
  for (int i = 0; i < 300000; ++i) p += "N0";
  p += "h\x00h\x01"
       "a."s;
  const pickle::Document doc = pickle::unpickle(reinterpret_cast<const std::uint8_t*>(p.data()), p.size(), "memo.pkl");
  const auto& items = doc.root()->items();
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0], items[1]);
  ASSERT_EQ(items[0]->items().size(), 1u);
  EXPECT_EQ(items[0]->items()[0]->integer, 7);
}

TEST(HostilePickle, LiveValuesAreLimitedByTheFileSize) {
  // 2M empty tuples kept in one list: more than 2^20 + size / 4 live values.
  std::string p = "\x80\x02]";
  for (int i = 0; i < 2000; ++i) p += "(" + std::string(1000, ')') + "e";
  p += '.';
  const std::string err = pickle_error(p);
  EXPECT_NE(err.find("hostile.pkl"), std::string::npos) << err;
  EXPECT_NE(err.find("more than " + std::to_string(pickle::max_pickle_values(p.size())) + " live values"),
            std::string::npos)
      << err;
}

TEST(HostilePickle, MemoAndStackAreLimited) {
  const std::string memo = "\x80\x02N" + std::string(2000000, '\x94') + ".";
  EXPECT_NE(pickle_error(memo).find("the memo holds more than"), std::string::npos) << pickle_error(memo);
  const std::string stack = "\x80\x02N" + std::string(2000000, '2') + ".";
  EXPECT_NE(pickle_error(stack).find("the stack holds more than"), std::string::npos) << pickle_error(stack);
  const std::string marks = "\x80\x02" + std::string(2000000, '(') + ".";
  EXPECT_NE(pickle_error(marks).find("open MARKs"), std::string::npos) << pickle_error(marks);
}

TEST(HostilePickle, CopiesByCallsAreLimitedByTheFileSize) {
  // _codecs.encode on one memoised 100 kB string, 1000 times: 100 MB of bytes from a 100 kB file.
  std::string p = "\x80\x02"
                  "c_codecs\nencode\nq\x00"
                  "0"s;
  binunicode(p, std::string(100000, 'a'));
  p += "q\x01"
       "0]";
  for (int i = 0; i < 1000; ++i) p += "h\x00h\x01\x85Ra"s;
  p += '.';
  const std::string err = pickle_error(p);
  EXPECT_NE(err.find("calls copy more than the pickle's own"), std::string::npos) << err;
}

}  // namespace
}  // namespace wma::io
