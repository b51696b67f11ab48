// PNG writing for frames and plots, compressed by our own deflate encoder (io/deflate.h), so no zlib
// dependency: a palette image when there are at most 256 colours, else 8-bit RGB with each row's filter
// chosen as libpng's default heuristic does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wma::io {

struct Rgb8Image {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // [height, width, 3]
};

// Writes to `path` through a temporary file renamed at the end (no half-written output).
void write_png(const std::string& path, const Rgb8Image& image);

std::uint32_t crc32(const std::uint8_t* data, std::size_t size, std::uint32_t crc = 0);

}  // namespace wma::io
