// libFuzzer target: our own PNG decoder, which decodes the observation and prompt pictures of `wma interact`
// and `generate` in a build without libpng.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/error.h"
#include "io/png_read.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const wma::io::Rgb8Image image = wma::io::decode_png(data, size, "fuzz.png");
    const auto pixels = static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.height);
    if (image.width <= 0 || image.height <= 0 || image.pixels.size() != 3 * pixels) std::abort();
  } catch (const wma::Error&) {
  }
  return 0;
}
