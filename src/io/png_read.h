// Reading PNG files as upstream's `Image.open(path).convert('RGB')` does for the observation frames
// (scripts/evaluation/world_model_interaction.py prepare_init_input): 8-bit grey, grey+alpha, RGB, RGBA and
// palette images, non-interlaced; alpha is dropped (PIL's convert('RGB') does not composite).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/png.h"

namespace wma::io {

// The largest image decoded (docs/formats.md): checked against IHDR before anything is allocated or inflated,
// so a hostile header or a decompression bomb costs at most the declared image's bytes.
constexpr std::uint32_t kPngMaxSide = 16384;
constexpr std::uint64_t kPngMaxPixels = std::uint64_t{64} << 20;

// Throws wma::Error "[png] <path>: ..." for anything it cannot decode (bad signature, CRC, unsupported
// bit depth or interlacing, truncated data, image data longer than the header declares, an image over the limits).
Rgb8Image read_png(const std::string& path);
Rgb8Image decode_png(const std::uint8_t* data, std::size_t size, const std::string& source_name);

}  // namespace wma::io
