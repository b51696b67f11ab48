// Reading PNG files as upstream's `Image.open(path).convert('RGB')` does for the observation frames
// (scripts/evaluation/world_model_interaction.py prepare_init_input): 8-bit grey, grey+alpha, RGB, RGBA and
// palette images, non-interlaced; alpha is dropped (PIL's convert('RGB') does not composite).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/png.h"

namespace wma::io {

// Throws wma::Error "[png] <path>: ..." for anything it cannot decode (bad signature, CRC, unsupported
// bit depth or interlacing, truncated data).
Rgb8Image read_png(const std::string& path);
Rgb8Image decode_png(const std::uint8_t* data, std::size_t size, const std::string& source_name);

}  // namespace wma::io
