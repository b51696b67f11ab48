// PNG decoding (ISO/IEC 15948): chunk walk with CRC checks, zlib-wrapped DEFLATE through io/gzip's
// inflate_raw, the five scanline filters, Adam7's seven passes, conversion to RGB8 as PIL's convert('RGB').
#include "io/png_read.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "io/gzip.h"
#include "io/mapped_file.h"

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

// The bit depths ISO 15948 11.2.2 allows for each colour type.
bool depth_allowed(int color_type, int depth) {
  switch (color_type) {
    case 0: return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3: return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    default: return depth == 8 || depth == 16;
  }
}

// A sub-image of the file's image data: the whole image, or one of Adam7's passes (ISO 15948 8.2), whose pixel
// (x, y) is image pixel (x0 + x * dx, y0 + y * dy).
struct Pass {
  std::size_t x0, y0, dx, dy, width, height;
};

std::vector<Pass> passes_of(std::size_t width, std::size_t height, bool interlaced) {
  if (!interlaced) return {{0, 0, 1, 1, width, height}};
  static constexpr std::array<std::array<std::size_t, 4>, 7> kAdam7 = {
      {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}};
  std::vector<Pass> passes;
  for (const auto& [x0, y0, dx, dy] : kAdam7) {
    // A pass with no pixels has no scanlines, not even filter bytes.
    if (width <= x0 || height <= y0) continue;
    passes.push_back({x0, y0, dx, dy, (width - x0 + dx - 1) / dx, (height - y0 + dy - 1) / dy});
  }
  return passes;
}

// Reverses the per-scanline filters of one pass in place: row y's filtered bytes sit at rows[y * (stride + 1) + 1]
// after its filter byte, and the row above is already reconstructed when row y is; `bpp` = bytes per complete
// pixel, at least 1 (ISO 15948 9.2).
void unfilter(std::uint8_t* rows, std::size_t height, std::size_t stride, std::size_t bpp, const std::string& source) {
  for (std::size_t y = 0; y < height; ++y) {
    const std::uint8_t filter = rows[y * (stride + 1)];
    std::uint8_t* row = &rows[y * (stride + 1) + 1];
    const std::uint8_t* prev = y > 0 ? row - (stride + 1) : nullptr;
    for (std::size_t x = 0; x < stride; ++x) {
      const int a = x >= bpp ? row[x - bpp] : 0;
      const int b = prev ? prev[x] : 0;
      const int c = prev && x >= bpp ? prev[x - bpp] : 0;
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

void png_row_to_rgb8(const PngSampleFormat& format, const std::uint8_t* row, std::size_t count, std::uint8_t* out,
                     std::size_t out_step) {
  const int depth = format.bit_depth;
  const std::size_t channels = static_cast<std::size_t>(channels_of(format.color_type));
  // Sample k of the row: sub-byte samples are packed most significant bits first.
  auto sample = [&](std::size_t k) -> unsigned {
    if (depth == 16) return (unsigned{row[2 * k]} << 8) | row[2 * k + 1];
    if (depth == 8) return row[k];
    const std::size_t bit = k * static_cast<std::size_t>(depth);
    return (row[bit / 8] >> (8 - depth - bit % 8)) & ((1u << depth) - 1);
  };
  for (std::size_t i = 0; i < count; ++i, out += out_step) {
    const std::size_t k = i * channels;
    switch (format.color_type) {
      case 3: {
        const std::size_t index = sample(k);
        if (index * 3 + 2 < format.palette.size()) std::memcpy(out, &format.palette[index * 3], 3);
        else out[0] = out[1] = out[2] = 0;
        break;
      }
      case 0:
      case 4: {
        const unsigned v = sample(k);
        const unsigned grey =
            depth == 16 ? (format.color_type == 0 ? std::min(v, 255u) : v >> 8) : v * (255u / ((1u << depth) - 1));
        out[0] = out[1] = out[2] = static_cast<std::uint8_t>(grey);
        break;
      }
      default:
        for (std::size_t c = 0; c < 3; ++c)
          out[c] = static_cast<std::uint8_t>(depth == 16 ? sample(k + c) >> 8 : sample(k + c));
    }
  }
}

Rgb8Image decode_png(const std::uint8_t* data, std::size_t size, const std::string& source) {
  static const std::uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  WMA_CHECK(size >= 8 && std::memcmp(data, kSignature, 8) == 0, "[png] ", source, ": not a PNG file");
  std::size_t pos = 8;
  std::uint32_t width = 0, height = 0;
  bool interlaced = false;
  PngSampleFormat format;
  format.color_type = -1;
  std::vector<std::uint8_t> idat;
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
      format.bit_depth = body[8];
      format.color_type = body[9];
      WMA_CHECK(channels_of(format.color_type) > 0, "[png] ", source, ": colour type ", format.color_type,
                " is invalid");
      WMA_CHECK(depth_allowed(format.color_type, format.bit_depth), "[png] ", source, ": bit depth ", format.bit_depth,
                " is invalid for colour type ", format.color_type);
      WMA_CHECK(body[10] == 0 && body[11] == 0, "[png] ", source, ": unknown compression or filter method");
      WMA_CHECK(body[12] <= 1, "[png] ", source, ": unknown interlace method ", int{body[12]});
      interlaced = body[12] == 1;
      check_image_size(width, height, "[png] ", source);
    } else if (name == "PLTE") {
      WMA_CHECK(len % 3 == 0 && len <= 3 * 256, "[png] ", source, ": PLTE of ", len, " bytes");
      format.palette.assign(body, body + len);
    } else if (name == "IDAT") {
      idat.insert(idat.end(), body, body + len);
    } else if (name == "IEND") {
      ended = true;
    }
    pos += 12 + len;
  }
  WMA_CHECK(format.color_type >= 0, "[png] ", source, ": no IHDR chunk");
  WMA_CHECK(format.color_type != 3 || !format.palette.empty(), "[png] ", source, ": palette image without PLTE");
  WMA_CHECK(idat.size() > 2, "[png] ", source, ": no image data");
  WMA_CHECK((idat[0] & 0x0F) == 8 && ((idat[0] << 8) | idat[1]) % 31 == 0, "[png] ", source,
            ": image data is not a zlib stream");
  const std::size_t bits_per_pixel = static_cast<std::size_t>(channels_of(format.color_type)) * format.bit_depth;
  // The sides and pixel count are bounded, so none of these sums and products can wrap; checked all the same
  // because the bounds are tunable constants.
  const std::vector<Pass> passes = passes_of(width, height, interlaced);
  std::vector<std::size_t> strides;
  std::size_t expected = 0;
  for (const Pass& p : passes) {
    std::size_t bits = 0, bytes = 0;
    WMA_CHECK(!__builtin_mul_overflow(p.width, bits_per_pixel, &bits) &&
                  !__builtin_mul_overflow(p.height, (bits + 7) / 8 + 1, &bytes) &&
                  !__builtin_add_overflow(expected, bytes, &expected),
              "[png] ", source, ": ", width, "x", height, " image size overflows");
    strides.push_back((bits + 7) / 8);
  }
  std::vector<std::uint8_t> raw;
  try {
    raw = inflate_raw(idat.data() + 2, idat.size() - 2, nullptr, expected);
  } catch (const Error& e) {
    fail("[png] ", source, ": image data of the ", width, "x", height, " image (", expected,
         " bytes once inflated): ", e.what());
  }
  WMA_CHECK(raw.size() == expected, "[png] ", source, ": image data has ", raw.size(), " bytes, ", width, "x", height,
            " needs ", expected);

  Rgb8Image image;
  image.width = static_cast<int>(width);
  image.height = static_cast<int>(height);
  image.pixels.resize(std::size_t{width} * height * 3);
  std::uint8_t* rows = raw.data();
  for (std::size_t k = 0; k < passes.size(); ++k) {
    const Pass& p = passes[k];
    unfilter(rows, p.height, strides[k], std::max<std::size_t>(1, bits_per_pixel / 8), source);
    for (std::size_t y = 0; y < p.height; ++y)
      png_row_to_rgb8(format, rows + y * (strides[k] + 1) + 1, p.width,
                      &image.pixels[((p.y0 + y * p.dy) * width + p.x0) * 3], p.dx * 3);
    rows += p.height * (strides[k] + 1);
  }
  return image;
}

Rgb8Image read_png(const std::string& path) {
  const std::shared_ptr<MappedFile> file = MappedFile::open(path);
  return decode_png(file->data(), file->size(), path);
}

}  // namespace wma::io
