// PNG decoding (ISO/IEC 15948): chunk walk with CRC checks, zlib-wrapped DEFLATE through io/gzip's
// inflate_raw, the five scanline filters, conversion to RGB8 as PIL's convert('RGB').
#include "io/png_read.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "io/gzip.h"

namespace wma::io {
namespace {

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

int channels_of(int color_type) {
  switch (color_type) {
    case 0: return 1;
    case 2: return 3;
    case 3: return 1;
    case 4: return 2;
    case 6: return 4;
    default: return 0;
  }
}

// Reverses the per-scanline filters in place: row y's filtered bytes sit at raw[y * (stride + 1) + 1] after
// its filter byte, and the row above is already reconstructed when row y is; `bpp` = bytes per complete pixel.
void unfilter(std::vector<std::uint8_t>& raw, std::size_t height, std::size_t stride, int bpp,
              const std::string& source) {
  for (std::size_t y = 0; y < height; ++y) {
    const std::uint8_t filter = raw[y * (stride + 1)];
    std::uint8_t* row = &raw[y * (stride + 1) + 1];
    const std::uint8_t* prev = y > 0 ? row - (stride + 1) : nullptr;
    for (std::size_t x = 0; x < stride; ++x) {
      const int a = x >= static_cast<std::size_t>(bpp) ? row[x - bpp] : 0;
      const int b = prev ? prev[x] : 0;
      const int c = prev && x >= static_cast<std::size_t>(bpp) ? prev[x - bpp] : 0;
      int predictor = 0;
      switch (filter) {
        case 0: predictor = 0; break;
        case 1: predictor = a; break;
        case 2: predictor = b; break;
        case 3: predictor = (a + b) / 2; break;
        case 4: {
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c);
          break;
        }
        default: fail("[png] ", source, ": unknown filter type ", int{filter}, " on row ", y);
      }
      row[x] = static_cast<std::uint8_t>(row[x] + predictor);
    }
  }
}

}  // namespace

Rgb8Image decode_png(const std::uint8_t* data, std::size_t size, const std::string& source) {
  static const std::uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  WMA_CHECK(size >= 8 && std::memcmp(data, kSignature, 8) == 0, "[png] ", source, ": not a PNG file");
  std::size_t pos = 8;
  std::uint32_t width = 0, height = 0;
  int color = -1;
  std::vector<std::uint8_t> idat, palette;
  bool ended = false;
  while (!ended) {
    WMA_CHECK(pos + 12 <= size, "[png] ", source, ": truncated (no IEND chunk)");
    const std::uint32_t len = be32(data + pos);
    WMA_CHECK(len <= size - pos - 12, "[png] ", source, ": chunk at byte ", pos, " runs past the end of the file");
    const std::uint8_t* type = data + pos + 4;
    const std::uint8_t* body = data + pos + 8;
    WMA_CHECK(crc32(type, len + 4) == be32(body + len), "[png] ", source, ": CRC mismatch in chunk ",
              std::string(reinterpret_cast<const char*>(type), 4));
    const std::string name(reinterpret_cast<const char*>(type), 4);
    WMA_CHECK(pos != 8 || name == "IHDR", "[png] ", source, ": first chunk is '", name, "', not IHDR");
    if (name == "IHDR") {
      WMA_CHECK(pos == 8, "[png] ", source, ": second IHDR chunk at byte ", pos);
      WMA_CHECK(len == 13, "[png] ", source, ": IHDR has ", len, " bytes");
      width = be32(body);
      height = be32(body + 4);
      const int depth = body[8];
      color = body[9];
      WMA_CHECK(depth == 8, "[png] ", source, ": bit depth ", depth, " is not supported (8 only)");
      WMA_CHECK(channels_of(color) > 0, "[png] ", source, ": colour type ", color, " is invalid");
      WMA_CHECK(body[12] == 0, "[png] ", source, ": interlaced PNGs are not supported");
      WMA_CHECK(width > 0 && height > 0, "[png] ", source, ": empty image ", width, "x", height);
      WMA_CHECK(width <= kPngMaxSide && height <= kPngMaxSide, "[png] ", source, ": image is ", width, "x", height,
                "; each side may be at most ", kPngMaxSide, " pixels");
      WMA_CHECK(std::uint64_t{width} * height <= kPngMaxPixels, "[png] ", source, ": image is ", width, "x", height,
                " = ", std::uint64_t{width} * height, " pixels; at most ", kPngMaxPixels, " are decoded");
    } else if (name == "PLTE") {
      palette.assign(body, body + len);
    } else if (name == "IDAT") {
      idat.insert(idat.end(), body, body + len);
    } else if (name == "IEND") {
      ended = true;
    }
    pos += 12 + len;
  }
  WMA_CHECK(color >= 0, "[png] ", source, ": no IHDR chunk");
  WMA_CHECK(idat.size() > 2, "[png] ", source, ": no image data");
  WMA_CHECK((idat[0] & 0x0F) == 8 && ((idat[0] << 8) | idat[1]) % 31 == 0, "[png] ", source,
            ": image data is not a zlib stream");
  const int channels = channels_of(color);
  // The sides and pixel count are bounded above, so none of these products can wrap; checked all the same because
  // the bounds are tunable constants.
  std::size_t stride = 0, expected = 0;
  WMA_CHECK(!__builtin_mul_overflow(std::size_t{width}, static_cast<std::size_t>(channels), &stride) &&
                !__builtin_mul_overflow(std::size_t{height}, stride + 1, &expected),
            "[png] ", source, ": ", width, "x", height, " image size overflows");
  std::vector<std::uint8_t> raw;
  try {
    raw = inflate_raw(idat.data() + 2, idat.size() - 2, nullptr, expected);
  } catch (const Error& e) {
    fail("[png] ", source, ": image data of the ", width, "x", height, " image (", expected,
         " bytes once inflated): ", e.what());
  }
  WMA_CHECK(raw.size() == expected, "[png] ", source, ": image data has ", raw.size(), " bytes, ", width, "x",
            height, " needs ", expected);
  unfilter(raw, height, stride, channels, source);

  Rgb8Image image;
  image.width = static_cast<int>(width);
  image.height = static_cast<int>(height);
  image.pixels.resize(std::size_t{width} * height * 3);
  for (std::size_t i = 0; i < std::size_t{width} * height; ++i) {
    const std::uint8_t* p = &raw[(i / width) * (stride + 1) + 1 + (i % width) * channels];
    std::uint8_t* q = &image.pixels[i * 3];
    if (color == 3) {
      WMA_CHECK(static_cast<std::size_t>(p[0]) * 3 + 2 < palette.size(), "[png] ", source, ": palette index ",
                int{p[0]}, " outside the PLTE chunk");
      std::memcpy(q, &palette[p[0] * 3], 3);
    } else if (channels <= 2) {
      q[0] = q[1] = q[2] = p[0];
    } else {
      std::memcpy(q, p, 3);
    }
  }
  return image;
}

Rgb8Image read_png(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  WMA_CHECK(f.good(), "[png] cannot open ", path);
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return decode_png(bytes.data(), bytes.size(), path);
}

}  // namespace wma::io
