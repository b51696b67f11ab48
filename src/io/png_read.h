// PNG decoding to RGB8 with the pixel values of PIL's `Image.open(f).convert("RGB")`, which upstream applies to
// its observation frames and prompt pictures. Every colour type and bit depth, Adam7 interlacing too; PIL's
// conversion, which both our decoder and the libpng one (io/image_read.h picks) go through:
//   grey 1/2/4/8 bit      scaled to 0..255 (x255, x85, x17, x1) and repeated
//   grey 16 bit           clipped to 255 (PIL's I;16 -> L), not shifted
//   colour 16 bit         the high byte of each sample
//   palette               PLTE's colour; an index past the end of PLTE is black
//   alpha, tRNS           dropped, not composited; gAMA, iCCP and sRGB are ignored as PIL does
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "io/image_read.h"
#include "io/png.h"

namespace wma::io {

// What IHDR and PLTE say about a PNG's samples: enough to convert a scanline.
struct PngSampleFormat {
  int color_type = 0;
  int bit_depth = 8;
  std::vector<std::uint8_t> palette;  // PLTE's bytes, RGB triples
};

// Converts `count` pixels of one unfiltered scanline, packed as the file stores them (big-endian 16-bit samples,
// sub-byte samples most significant bits first), to RGB8 as PIL's convert("RGB"); pixel i goes to
// out + i * out_step, so an Adam7 pass fills every n-th pixel of an image row.
void png_row_to_rgb8(const PngSampleFormat& format, const std::uint8_t* row, std::size_t count, std::uint8_t* out,
                     std::size_t out_step);

// Our own decoder, with no library behind it. Throws wma::Error "[png] <source>: ..." for anything it cannot
// decode: bad signature or CRC, an invalid IHDR, truncated data, image data longer than the header declares, an
// image over the limits of io/image_read.h (checked on IHDR, before anything is allocated or inflated).
Rgb8Image read_png(const std::string& path);
Rgb8Image decode_png(const std::uint8_t* data, std::size_t size, const std::string& source_name);

#if WMA_WITH_LIBPNG
// The same through libpng (src/io/png_libpng.cpp), with the same limits and errors tagged "[png]". Unlike ours,
// it ignores image data past what the header declares, as PIL does.
Rgb8Image decode_png_libpng(const std::uint8_t* data, std::size_t size, const std::string& source_name);
#endif

}  // namespace wma::io
