// JPEG decoding to RGB8 through libjpeg(-turbo), set up as PIL's JpegDecode leaves it for `Image.open(f)
// .convert("RGB")` (no draft: the accurate integer IDCT, fancy upsampling, libjpeg's own YCbCr -> RGB), so the
// pixels are those upstream's frames and prompts get. Greyscale pictures are repeated over RGB; CMYK and other
// four-component files are refused. EXIF orientation is not applied (PIL's open does not either).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "io/png.h"

namespace wma::io {

// The most scans a file may have before decoding stops: a progressive file of many tiny scans costs a pass over
// the whole coefficient buffer each (libjpeg-turbo's fuzzers stop at 500 as well; real files have at most ~20).
constexpr int kJpegMaxScans = 500;

// Throws wma::Error "[jpeg] <source>: ..." for a file it cannot decode, a truncated one, one over the limits of
// io/image_read.h (checked on the frame header, before libjpeg allocates the image's buffers) or with more than
// kJpegMaxScans scans; in a build without libjpeg (WMA_WITH_LIBJPEG off) for every file, saying so.
Rgb8Image decode_jpeg(const std::uint8_t* data, std::size_t size, const std::string& source);

}  // namespace wma::io
