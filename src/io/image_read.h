// Reading pictures as upstream does, `PIL.Image.open(path).convert("RGB")`: the observation frames of
// `wma interact` and the prompt pictures of `wma generate`. The decoder is chosen by the file's first bytes,
// never its name: PNG through libpng when the build has it (WMA_WITH_LIBPNG), else our own decoder
// (io/png_read.h); JPEG through libjpeg(-turbo) when the build has it (WMA_WITH_LIBJPEG), else refused with a
// message saying so. Limits on untrusted files: docs/formats.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "io/png.h"

namespace wma::io {

// The largest picture decoded, in any format; checked against the header before anything is allocated.
// The fuzz build (fuzz/CMakeLists.txt) lowers the pixel limit, so that a header declaring a huge picture over
// a few bytes of data costs its executions milliseconds instead of seconds; the checks are the same code.
#ifndef WMA_IMAGE_MAX_PIXELS
#define WMA_IMAGE_MAX_PIXELS (std::uint64_t{64} << 20)
#endif
constexpr std::uint32_t kImageMaxSide = 16384;
constexpr std::uint64_t kImageMaxPixels = WMA_IMAGE_MAX_PIXELS;

// Throws "<tag><source>: image is WxH..." unless both sides are 1..kImageMaxSide and the product is at most
// kImageMaxPixels (`tag` is e.g. "[png] ").
void check_image_size(std::uint64_t width, std::uint64_t height, const char* tag, const std::string& source);

enum class ImageFormat { Png, Jpeg, Unknown };

ImageFormat sniff_image_format(const std::uint8_t* data, std::size_t size);

// Throws wma::Error naming `source` for a file in neither format, one it cannot decode, or one over the limits.
Rgb8Image decode_image(const std::uint8_t* data, std::size_t size, const std::string& source);
Rgb8Image read_image(const std::string& path);

}  // namespace wma::io
