// The picture reader behind `interact` and `generate`: sniffs the format, then hands the bytes to the decoder the
// build has (io/image_read.h).
#include "io/image_read.h"

#include <cstring>
#include <memory>

#include "core/error.h"
#include "io/jpeg_read.h"
#include "io/mapped_file.h"
#include "io/png_read.h"

namespace wma::io {

void check_image_size(std::uint64_t width, std::uint64_t height, const char* tag, const std::string& source) {
  WMA_CHECK(width > 0 && height > 0, tag, source, ": empty image ", width, "x", height);
  WMA_CHECK(width <= kImageMaxSide && height <= kImageMaxSide, tag, source, ": image is ", width, "x", height,
            "; each side may be at most ", kImageMaxSide, " pixels");
  WMA_CHECK(width * height <= kImageMaxPixels, tag, source, ": image is ", width, "x", height, " = ", width * height,
            " pixels; at most ", kImageMaxPixels, " are decoded");
}

ImageFormat sniff_image_format(const std::uint8_t* data, std::size_t size) {
  static const std::uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (size >= 8 && std::memcmp(data, kPng, 8) == 0) return ImageFormat::Png;
  // SOI followed by the first marker's 0xFF (ITU T.81 B.1.1.2).
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return ImageFormat::Jpeg;
  return ImageFormat::Unknown;
}

Rgb8Image decode_image(const std::uint8_t* data, std::size_t size, const std::string& source) {
  switch (sniff_image_format(data, size)) {
    case ImageFormat::Png:
#if WMA_WITH_LIBPNG
      return decode_png_libpng(data, size, source);
#else
      return decode_png(data, size, source);
#endif
    case ImageFormat::Jpeg: return decode_jpeg(data, size, source);
    case ImageFormat::Unknown: break;
  }
  fail("[image] ", source, ": neither a PNG nor a JPEG file (the first bytes decide, not the name)");
}

Rgb8Image read_image(const std::string& path) {
  const std::shared_ptr<MappedFile> file = MappedFile::open(path);
  return decode_image(file->data(), file->size(), path);
}

}  // namespace wma::io
