// libFuzzer target: the pictures as the release build decodes them, PNG through libpng and JPEG through
// libjpeg(-turbo) behind io::decode_image, with our wrappers' limits, error handlers and row conversion (the
// libraries themselves are fuzzed upstream; what is ours around them is not, in fuzz_png).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/error.h"
#include "io/image_read.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const wma::io::Rgb8Image image = wma::io::decode_image(data, size, "fuzz.image");
    const auto pixels = static_cast<std::uint64_t>(image.width) * static_cast<std::uint64_t>(image.height);
    if (image.width <= 0 || image.height <= 0 || image.width > wma::io::kImageMaxSide ||
        image.height > wma::io::kImageMaxSide || pixels > wma::io::kImageMaxPixels || image.pixels.size() != 3 * pixels)
      std::abort();
  } catch (const wma::Error&) {
  }
  return 0;
}
