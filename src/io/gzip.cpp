// gzip (RFC 1952) and DEFLATE (RFC 1951) decoding, replacing Python's gzip module for the
// OpenCLIP BPE vocabulary. A plain canonical-Huffman decoder: the vocabulary is ~1 MB once,
// so clarity wins over table-driven speed.
#include "io/gzip.h"

#include <array>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "io/zip.h"

namespace wma::io {
namespace {

class BitReader {
 public:
  BitReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  std::uint32_t bits(int n) {
    std::uint32_t v = 0;
    for (int i = 0; i < n; ++i) {
      WMA_CHECK(pos_ < size_, "[gzip] truncated deflate stream");
      v |= static_cast<std::uint32_t>((data_[pos_] >> bit_) & 1u) << i;
      if (++bit_ == 8) {
        bit_ = 0;
        ++pos_;
      }
    }
    return v;
  }
  void align_to_byte() {
    if (bit_ != 0) {
      bit_ = 0;
      ++pos_;
    }
  }
  std::uint8_t byte() {
    WMA_CHECK(pos_ < size_, "[gzip] truncated stored block");
    return data_[pos_++];
  }
  std::size_t position() const { return pos_ + (bit_ != 0 ? 1 : 0); }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  int bit_ = 0;
};

// Canonical Huffman code (RFC 1951 3.2.2) decoded one bit at a time.
class Huffman {
 public:
  explicit Huffman(const std::vector<std::uint8_t>& lengths) {
    for (std::uint8_t len : lengths) ++count_[len];
    count_[0] = 0;
    std::array<int, 16> offset{};
    for (int len = 1; len < 16; ++len) offset[len] = offset[len - 1] + count_[len - 1];
    symbols_.resize(lengths.size());
    for (std::size_t s = 0; s < lengths.size(); ++s)
      if (lengths[s] != 0) symbols_[offset[lengths[s]]++] = static_cast<int>(s);
  }

  int decode(BitReader& in) const {
    int code = 0, first = 0, index = 0;
    for (int len = 1; len < 16; ++len) {
      code |= static_cast<int>(in.bits(1));
      const int count = count_[len];
      if (code - first < count) return symbols_[index + code - first];
      index += count;
      first = (first + count) << 1;
      code <<= 1;
    }
    fail("[gzip] invalid Huffman code");
  }

 private:
  std::array<int, 16> count_{};
  std::vector<int> symbols_;
};

constexpr int kLengthBase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr int kLengthExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                  2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr int kDistBase[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
                               193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
constexpr int kDistExtra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

[[noreturn]] void output_too_long(std::size_t max_output) {
  fail("[gzip] deflate stream decodes to more than ", max_output, " bytes");
}

void inflate_block(BitReader& in, const Huffman& lit, const Huffman& dist, std::vector<std::uint8_t>& out,
                   std::size_t max_output) {
  for (;;) {
    const int sym = lit.decode(in);
    if (sym < 256) {
      if (out.size() >= max_output) output_too_long(max_output);
      out.push_back(static_cast<std::uint8_t>(sym));
      continue;
    }
    if (sym == 256) return;
    const int li = sym - 257;
    WMA_CHECK(li < 29, "[gzip] invalid length symbol ", sym);
    const std::size_t length = static_cast<std::size_t>(kLengthBase[li]) + in.bits(kLengthExtra[li]);
    const int di = dist.decode(in);
    WMA_CHECK(di < 30, "[gzip] invalid distance symbol ", di);
    const std::size_t distance = static_cast<std::size_t>(kDistBase[di]) + in.bits(kDistExtra[di]);
    WMA_CHECK(distance <= out.size(), "[gzip] distance ", distance, " reaches before the start of the output");
    if (length > max_output - out.size()) output_too_long(max_output);
    const std::size_t from = out.size() - distance;
    for (std::size_t i = 0; i < length; ++i) out.push_back(out[from + i]);  // may overlap itself
  }
}

void read_dynamic_tables(BitReader& in, std::vector<std::uint8_t>& lit_lengths,
                         std::vector<std::uint8_t>& dist_lengths) {
  const int hlit = static_cast<int>(in.bits(5)) + 257;
  const int hdist = static_cast<int>(in.bits(5)) + 1;
  const int hclen = static_cast<int>(in.bits(4)) + 4;
  static constexpr int kOrder[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
  std::vector<std::uint8_t> cl_lengths(19, 0);
  for (int i = 0; i < hclen; ++i) cl_lengths[kOrder[i]] = static_cast<std::uint8_t>(in.bits(3));
  const Huffman cl(cl_lengths);
  std::vector<std::uint8_t> lengths;
  while (static_cast<int>(lengths.size()) < hlit + hdist) {
    const int sym = cl.decode(in);
    if (sym < 16) {
      lengths.push_back(static_cast<std::uint8_t>(sym));
    } else if (sym == 16) {
      WMA_CHECK(!lengths.empty(), "[gzip] repeat code with no previous length");
      lengths.insert(lengths.end(), 3 + in.bits(2), lengths.back());
    } else if (sym == 17) {
      lengths.insert(lengths.end(), 3 + in.bits(3), 0);
    } else {
      lengths.insert(lengths.end(), 11 + in.bits(7), 0);
    }
  }
  WMA_CHECK(static_cast<int>(lengths.size()) == hlit + hdist, "[gzip] code lengths overrun");
  lit_lengths.assign(lengths.begin(), lengths.begin() + hlit);
  dist_lengths.assign(lengths.begin() + hlit, lengths.end());
}

std::uint32_t le32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

}  // namespace

std::vector<std::uint8_t> inflate_raw(const std::uint8_t* data, std::size_t size, std::size_t* consumed,
                                      std::size_t max_output) {
  BitReader in(data, size);
  std::vector<std::uint8_t> out;
  bool last = false;
  while (!last) {
    last = in.bits(1) != 0;
    const std::uint32_t type = in.bits(2);
    if (type == 0) {
      in.align_to_byte();
      const std::uint32_t len = in.byte() | static_cast<std::uint32_t>(in.byte()) << 8;
      const std::uint32_t nlen = in.byte() | static_cast<std::uint32_t>(in.byte()) << 8;
      WMA_CHECK((len ^ 0xFFFFu) == nlen, "[gzip] stored block length check fails");
      if (len > max_output - out.size()) output_too_long(max_output);
      for (std::uint32_t i = 0; i < len; ++i) out.push_back(in.byte());
    } else if (type == 1) {
      std::vector<std::uint8_t> lit(288), dist(30, 5);
      for (int i = 0; i < 288; ++i) lit[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
      inflate_block(in, Huffman(lit), Huffman(dist), out, max_output);
    } else if (type == 2) {
      std::vector<std::uint8_t> lit, dist;
      read_dynamic_tables(in, lit, dist);
      inflate_block(in, Huffman(lit), Huffman(dist), out, max_output);
    } else {
      fail("[gzip] invalid block type 3");
    }
  }
  if (consumed != nullptr) *consumed = in.position();
  return out;
}

bool is_gzip(const std::uint8_t* data, std::size_t size) { return size >= 2 && data[0] == 0x1f && data[1] == 0x8b; }

std::vector<std::uint8_t> gunzip(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> out;
  std::size_t pos = 0;
  do {
    const std::uint8_t* m = data + pos;
    const std::size_t left = size - pos;
    WMA_CHECK(left >= 18 && is_gzip(m, left), "[gzip] not a gzip member at byte ", pos);
    WMA_CHECK(m[2] == 8, "[gzip] unsupported compression method ", int(m[2]));
    const std::uint8_t flags = m[3];
    std::size_t h = 10;
    if (flags & 0x04) {  // FEXTRA
      WMA_CHECK(h + 2 <= left, "[gzip] truncated header");
      h += 2 + (m[h] | static_cast<std::size_t>(m[h + 1]) << 8);
    }
    for (std::uint8_t bit : {std::uint8_t{0x08}, std::uint8_t{0x10}}) {  // FNAME, FCOMMENT: NUL-terminated
      if (!(flags & bit)) continue;
      while (h < left && m[h] != 0) ++h;
      ++h;
    }
    if (flags & 0x02) h += 2;  // FHCRC
    WMA_CHECK(h < left, "[gzip] truncated header");
    std::size_t used = 0;
    std::vector<std::uint8_t> member = inflate_raw(m + h, left - h, &used);
    WMA_CHECK(h + used + 8 <= left, "[gzip] missing trailer");
    const std::uint8_t* trailer = m + h + used;
    WMA_CHECK(crc32(member.data(), member.size()) == le32(trailer), "[gzip] CRC-32 mismatch");
    WMA_CHECK(static_cast<std::uint32_t>(member.size()) == le32(trailer + 4), "[gzip] length mismatch");
    out.insert(out.end(), member.begin(), member.end());
    pos += h + used + 8;
  } while (pos < size && is_gzip(data + pos, size - pos));
  return out;
}

std::string read_file_maybe_gzip(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  WMA_CHECK(f, "[gzip] cannot open ", path);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  if (!is_gzip(p, bytes.size())) return bytes;
  try {
    const std::vector<std::uint8_t> out = gunzip(p, bytes.size());
    return std::string(out.begin(), out.end());
  } catch (const Error& e) {
    fail(e.what(), " (", path, ")");
  }
}

}  // namespace wma::io
