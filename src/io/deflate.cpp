#include "io/deflate.h"

#include <algorithm>
#include <array>

namespace wma::io {
namespace {

constexpr int kMinMatch = 3, kMaxMatch = 258;
constexpr std::size_t kWindow = 32768;
// Input bytes per block: at most what one stored block holds, so either coding of a block is one block.
constexpr std::size_t kBlockInput = 65535;
// Candidates tried per position: plots and frames are mostly runs, found on the first candidates.
constexpr int kMaxChain = 48;
constexpr int kHashBits = 15;

// RFC 1951 3.2.5: base value and extra bits of the length codes 257..285 and the distance codes 0..29.
constexpr std::array<int, 29> kLengthBase = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                             31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
constexpr std::array<int, 29> kLengthExtra = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                              2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
constexpr std::array<int, 30> kDistBase = {1,    2,    3,    4,    5,    7,    9,    13,    17,    25,
                                           33,   49,   65,   97,   129,  193,  257,  385,   513,   769,
                                           1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
constexpr std::array<int, 30> kDistExtra = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                            6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

// Length code index (0..28) of every match length.
const std::array<std::uint8_t, kMaxMatch + 1>& length_codes() {
  static const auto table = [] {
    std::array<std::uint8_t, kMaxMatch + 1> t{};
    for (int code = 0; code < 29; ++code)
      for (int len = kLengthBase[code]; len < kLengthBase[code] + (1 << kLengthExtra[code]) && len <= kMaxMatch; ++len)
        t[len] = static_cast<std::uint8_t>(code);
    return t;
  }();
  return table;
}

int distance_code(int distance) {
  return static_cast<int>(std::upper_bound(kDistBase.begin(), kDistBase.end(), distance) - kDistBase.begin()) - 1;
}

// The fixed literal/length code (RFC 1951 3.2.6): code and bit count of symbol 0..287.
std::pair<std::uint32_t, int> fixed_code(int symbol) {
  if (symbol < 144) return {0x30u + symbol, 8};
  if (symbol < 256) return {0x190u + (symbol - 144), 9};
  if (symbol < 280) return {static_cast<std::uint32_t>(symbol - 256), 7};
  return {0xc0u + (symbol - 280), 8};
}

class BitWriter {
 public:
  explicit BitWriter(std::vector<std::uint8_t>& out) : out_(out) {}
  // `count` bits of `value`, least significant first (header fields and extra bits).
  void bits(std::uint32_t value, int count) {
    acc_ |= static_cast<std::uint64_t>(value) << filled_;
    filled_ += count;
    while (filled_ >= 8) {
      out_.push_back(static_cast<std::uint8_t>(acc_));
      acc_ >>= 8;
      filled_ -= 8;
    }
  }
  // A Huffman code goes most significant bit first.
  void code(std::uint32_t code, int count) {
    std::uint32_t reversed = 0;
    for (int i = 0; i < count; ++i) reversed |= ((code >> i) & 1u) << (count - 1 - i);
    bits(reversed, count);
  }
  void align() {
    if (filled_ > 0) bits(0, 8 - filled_);
  }

 private:
  std::vector<std::uint8_t>& out_;
  std::uint64_t acc_ = 0;
  int filled_ = 0;
};

struct Token {
  std::uint16_t length;  // 0: a literal
  std::uint16_t value;   // the literal byte, or the match distance
};

int token_bits(const Token& t) {
  if (t.length == 0) return fixed_code(t.value).second;
  const int lc = length_codes()[t.length], dc = distance_code(t.value);
  return fixed_code(257 + lc).second + kLengthExtra[lc] + 5 + kDistExtra[dc];
}

void write_token(BitWriter& w, const Token& t) {
  if (t.length == 0) {
    const auto [code, count] = fixed_code(t.value);
    w.code(code, count);
    return;
  }
  const int lc = length_codes()[t.length], dc = distance_code(t.value);
  const auto [code, count] = fixed_code(257 + lc);
  w.code(code, count);
  w.bits(static_cast<std::uint32_t>(t.length - kLengthBase[lc]), kLengthExtra[lc]);
  w.code(static_cast<std::uint32_t>(dc), 5);
  w.bits(static_cast<std::uint32_t>(t.value - kDistBase[dc]), kDistExtra[dc]);
}

std::uint32_t hash3(const std::uint8_t* p) {
  const std::uint32_t v = p[0] | (static_cast<std::uint32_t>(p[1]) << 8) | (static_cast<std::uint32_t>(p[2]) << 16);
  return (v * 2654435761u) >> (32 - kHashBits);
}

}  // namespace

std::uint32_t adler32(const std::uint8_t* data, std::size_t size) {
  std::uint32_t a = 1, b = 0;
  while (size > 0) {
    // 5552 bytes is the most that cannot overflow b before the modulo (zlib's NMAX).
    const std::size_t n = std::min<std::size_t>(size, 5552);
    for (std::size_t i = 0; i < n; ++i) {
      a += data[i];
      b += a;
    }
    a %= 65521;
    b %= 65521;
    data += n;
    size -= n;
  }
  return (b << 16) | a;
}

std::vector<std::uint8_t> zlib_compress(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> out = {0x78, 0x01};  // deflate, 32 KiB window, no dictionary
  BitWriter w(out);
  std::vector<std::int32_t> head(std::size_t{1} << kHashBits, -1), prev(size, -1);
  auto insert = [&](std::size_t pos) {
    if (pos + kMinMatch > size) return;
    std::int32_t& h = head[hash3(data + pos)];
    prev[pos] = h;
    h = static_cast<std::int32_t>(pos);
  };
  std::vector<Token> tokens;
  std::size_t start = 0;
  do {
    const std::size_t end = std::min(size, start + kBlockInput);
    tokens.clear();
    long long fixed_bits = 3 + 7;  // header and end-of-block code
    for (std::size_t pos = start; pos < end;) {
      int best = 0;
      std::size_t best_from = 0;
      if (pos + kMinMatch <= end) {
        const int limit = static_cast<int>(std::min<std::size_t>(kMaxMatch, end - pos));
        std::int32_t cand = head[hash3(data + pos)];
        for (int chain = 0; cand >= 0 && pos - cand <= kWindow && chain < kMaxChain; ++chain) {
          const std::uint8_t *a = data + pos, *b = data + cand;
          int len = 0;
          while (len < limit && a[len] == b[len]) ++len;
          if (len > best) {
            best = len;
            best_from = static_cast<std::size_t>(cand);
            if (len == limit) break;
          }
          cand = prev[cand];
        }
      }
      if (best >= kMinMatch) {
        tokens.push_back({static_cast<std::uint16_t>(best), static_cast<std::uint16_t>(pos - best_from)});
        for (int i = 0; i < best; ++i) insert(pos + i);
        pos += best;
      } else {
        tokens.push_back({0, data[pos]});
        insert(pos);
        ++pos;
      }
      fixed_bits += token_bits(tokens.back());
    }
    const bool last = end == size;
    const std::size_t n = end - start;
    // A stored block costs its header, at most 7 bits of padding, LEN and NLEN, and the bytes themselves.
    if (static_cast<long long>(8 * n + 3 + 7 + 32) < fixed_bits) {
      w.bits(last ? 1 : 0, 1);
      w.bits(0, 2);
      w.align();
      w.bits(static_cast<std::uint32_t>(n), 16);
      w.bits(static_cast<std::uint32_t>(~n & 0xffffu), 16);
      out.insert(out.end(), data + start, data + end);
    } else {
      w.bits(last ? 1 : 0, 1);
      w.bits(1, 2);
      for (const Token& t : tokens) write_token(w, t);
      w.code(0, 7);  // end of block (symbol 256)
    }
    start = end;
  } while (start < size);
  w.align();
  const std::uint32_t check = adler32(data, size);
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(check >> s));
  return out;
}

}  // namespace wma::io
