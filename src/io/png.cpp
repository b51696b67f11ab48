#include "io/png.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include "core/error.h"
#include "io/deflate.h"
#include "io/temp_file.h"

namespace wma::io {
namespace {

const std::array<std::uint32_t, 256>& crc_table() {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t n = 0; n < 256; ++n) {
      std::uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  return table;
}

void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

void put_chunk(std::vector<std::uint8_t>& out, const char* type, const std::vector<std::uint8_t>& body) {
  put_u32(out, static_cast<std::uint32_t>(body.size()));
  const std::size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), body.begin(), body.end());
  put_u32(out, crc32(out.data() + start, out.size() - start));
}

// One row through each of PNG's five filters (ISO 15948 9.2), keeping the one with the smallest sum of
// |signed byte| (the standard heuristic): plots become long zero runs, photographs small differences.
void filter_row(const std::uint8_t* row, const std::uint8_t* above, std::size_t n, std::vector<std::uint8_t>& out) {
  constexpr std::size_t bpp = 3;
  auto paeth = [](int a, int b, int c) {
    const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
  };
  std::array<std::vector<std::uint8_t>, 5> candidates;
  std::size_t best = 0;
  long best_cost = -1;
  for (std::size_t f = 0; f < 5; ++f) {
    std::vector<std::uint8_t>& c = candidates[f];
    c.resize(n);
    long cost = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const int x = row[i], a = i >= bpp ? row[i - bpp] : 0, b = above ? above[i] : 0,
                d = i >= bpp && above ? above[i - bpp] : 0;
      const int pred = f == 0 ? 0 : f == 1 ? a : f == 2 ? b : f == 3 ? (a + b) / 2 : paeth(a, b, d);
      c[i] = static_cast<std::uint8_t>(x - pred);
      cost += std::abs(static_cast<int>(static_cast<std::int8_t>(c[i])));
    }
    if (best_cost < 0 || cost < best_cost) best = f, best_cost = cost;
  }
  out.push_back(static_cast<std::uint8_t>(best));
  out.insert(out.end(), candidates[best].begin(), candidates[best].end());
}

}  // namespace

std::uint32_t crc32(const std::uint8_t* data, std::size_t size, std::uint32_t crc) {
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i) crc = crc_table()[(crc ^ data[i]) & 0xffu] ^ (crc >> 8);
  return ~crc;
}

void write_png(const std::string& path, const Rgb8Image& image) {
  WMA_CHECK(image.width > 0 && image.height > 0 &&
                image.pixels.size() == static_cast<std::size_t>(image.width) * image.height * 3,
            "[png] ", path, ": invalid image ", image.width, "x", image.height, " with ", image.pixels.size(),
            " bytes");
  const std::size_t pixels = static_cast<std::size_t>(image.width) * image.height;
  // Up to 256 colours (plots): a palette image, a third of the bytes to compress, rows unfiltered as the PNG
  // specification recommends for palettes. Otherwise truecolour with adaptive filters.
  std::vector<std::uint8_t> palette, raw;
  std::unordered_map<std::uint32_t, std::uint8_t> index;
  for (std::size_t i = 0; i < pixels && index.size() <= 256; ++i) {
    const std::uint8_t* p = &image.pixels[i * 3];
    const std::uint32_t rgb = (std::uint32_t{p[0]} << 16) | (std::uint32_t{p[1]} << 8) | p[2];
    if (index.emplace(rgb, static_cast<std::uint8_t>(index.size())).second) palette.insert(palette.end(), p, p + 3);
  }
  const bool indexed = index.size() <= 256;
  const std::size_t stride = static_cast<std::size_t>(image.width) * 3;
  if (indexed) {
    raw.reserve(pixels + image.height);
    for (std::size_t i = 0; i < pixels; ++i) {
      if (i % image.width == 0) raw.push_back(0);
      const std::uint8_t* p = &image.pixels[i * 3];
      raw.push_back(index.at((std::uint32_t{p[0]} << 16) | (std::uint32_t{p[1]} << 8) | p[2]));
    }
  } else {
    raw.reserve(pixels * 3 + image.height);
    for (int y = 0; y < image.height; ++y) {
      const std::uint8_t* row = image.pixels.data() + y * stride;
      filter_row(row, y > 0 ? row - stride : nullptr, stride, raw);
    }
  }
  std::vector<std::uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<std::uint8_t> ihdr;
  put_u32(ihdr, static_cast<std::uint32_t>(image.width));
  put_u32(ihdr, static_cast<std::uint32_t>(image.height));
  // 8 bits per sample or index, palette or truecolour, deflate, adaptive filtering, no interlace
  ihdr.insert(ihdr.end(), {8, static_cast<std::uint8_t>(indexed ? 3 : 2), 0, 0, 0});
  put_chunk(out, "IHDR", ihdr);
  if (indexed) put_chunk(out, "PLTE", palette);
  put_chunk(out, "IDAT", zlib_compress(raw.data(), raw.size()));
  put_chunk(out, "IEND", {});
  TempFile tmp(path);
  {
    std::ofstream f(tmp.path(), std::ios::binary);
    WMA_CHECK(f.good(), "[png] cannot write ", tmp.path());
    f.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
    f.close();
    WMA_CHECK(f.good(), "[png] short write to ", tmp.path());
  }
  tmp.commit();
}

}  // namespace wma::io
