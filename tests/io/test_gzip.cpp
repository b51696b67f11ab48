// io/gzip: the three DEFLATE block types, multi-member files and the integrity checks. The
// streams were produced by Python's zlib/gzip (levels 0 and 9) from the strings shown.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "io/gzip.h"

namespace wma::io {
namespace {

std::string gunzip_string(const std::vector<std::uint8_t>& gz) {
  const std::vector<std::uint8_t> out = gunzip(gz.data(), gz.size());
  return std::string(out.begin(), out.end());
}

// gzip.compress(b"hello hello hello\n", 9, mtime=0): one fixed-Huffman block with a back-reference.
const std::vector<std::uint8_t> kFixed = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03,
                                          0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x57, 0xc8, 0x40, 0x90, 0x5c,
                                          0x00, 0x3b, 0x7c, 0x8a, 0xdf, 0x12, 0x00, 0x00, 0x00};
// gzip.compress(b"abc", 0, mtime=0): a stored block.
const std::vector<std::uint8_t> kStored = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04,
                                           0x03, 0x01, 0x03, 0x00, 0xfc, 0xff, 0x61, 0x62, 0x63,
                                           0xc2, 0x41, 0x24, 0x35, 0x03, 0x00, 0x00, 0x00};

TEST(Gzip, FixedAndStoredBlocks) {
  EXPECT_EQ(gunzip_string(kFixed), "hello hello hello\n");
  EXPECT_EQ(gunzip_string(kStored), "abc");
}

TEST(Gzip, ConcatenatedMembers) {
  std::vector<std::uint8_t> both = kStored;
  both.insert(both.end(), kFixed.begin(), kFixed.end());
  EXPECT_EQ(gunzip_string(both), "abchello hello hello\n");
}

TEST(Gzip, CorruptionIsDetected) {
  std::vector<std::uint8_t> bad = kStored;
  bad[16] ^= 1;  // payload byte: CRC mismatch
  EXPECT_THROW(gunzip(bad.data(), bad.size()), Error);
  std::vector<std::uint8_t> cut(kFixed.begin(), kFixed.end() - 6);
  EXPECT_THROW(gunzip(cut.data(), cut.size()), Error);
  EXPECT_FALSE(is_gzip(reinterpret_cast<const std::uint8_t*>("plain"), 5));
}

}  // namespace
}  // namespace wma::io
