// libjpeg's error handling is setjmp/longjmp: decode_into() below holds nothing with a destructor between
// its setjmp and the library calls that may jump back to it, and the buffers it fills belong to its caller.
#include "io/jpeg_read.h"

#include "core/error.h"

#if WMA_WITH_LIBJPEG

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <vector>

#include <jerror.h>
#include <jpeglib.h>

#include "io/image_read.h"

namespace wma::io {
namespace {

struct ErrorState {
  jpeg_error_mgr mgr;  // first, so that libjpeg's `err` pointer is also this struct's
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void on_error(j_common_ptr cinfo) {
  ErrorState* state = reinterpret_cast<ErrorState*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, state->message);
  std::longjmp(state->jump, 1);
}

// Warnings leave the image decodable, and PIL ignores them (its output_message does nothing), except the end of
// the data arriving early: libjpeg then pads the image with grey, where PIL refuses a truncated file.
void on_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) on_error(cinfo);
}

void on_progress(j_common_ptr cinfo) {
  if (reinterpret_cast<j_decompress_ptr>(cinfo)->input_scan_number > kJpegMaxScans) {
    ErrorState* state = reinterpret_cast<ErrorState*>(cinfo->err);
    std::snprintf(state->message, sizeof state->message, "more than %d scans", kJpegMaxScans);
    std::longjmp(state->jump, 1);
  }
}

struct Decoder {
  jpeg_decompress_struct cinfo;
  ErrorState error;
  jpeg_progress_mgr progress;
};

// Returns false with d.error.message set when libjpeg failed; `pixels` is resized once the header is checked.
// Our own refusals are thrown and unwind as usual; only libjpeg's errors arrive by longjmp.
bool decode_into(Decoder& d, const std::uint8_t* data, std::size_t size, const std::string& source,
                 std::vector<std::uint8_t>& pixels) {
  if (setjmp(d.error.jump) != 0) return false;
  jpeg_mem_src(&d.cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&d.cinfo, TRUE);
  check_image_size(d.cinfo.image_width, d.cinfo.image_height, "[jpeg] ", source);
  if (d.cinfo.jpeg_color_space == JCS_GRAYSCALE) {
    d.cinfo.out_color_space = JCS_GRAYSCALE;
  } else if (d.cinfo.num_components == 3) {
    d.cinfo.out_color_space = JCS_RGB;
  } else {
    fail("[jpeg] ", source, ": ", d.cinfo.num_components,
         " components (CMYK?): only greyscale and 3-component (YCbCr, RGB) JPEGs are read");
  }
  jpeg_start_decompress(&d.cinfo);
  const std::size_t width = d.cinfo.output_width, channels = static_cast<std::size_t>(d.cinfo.output_components);
  pixels.resize(width * d.cinfo.output_height * 3);
  std::uint8_t* out = pixels.data();
  while (d.cinfo.output_scanline < d.cinfo.output_height) {
    JSAMPROW row = out + std::size_t{d.cinfo.output_scanline} * width * 3;
    jpeg_read_scanlines(&d.cinfo, &row, 1);
    // Grey rows are decoded into their own start and spread over RGB from the end backwards.
    if (channels == 1)
      for (std::size_t x = width; x-- > 0;) row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = row[x];
  }
  // No jpeg_finish_decompress: it only reads on to the EOI marker, which a complete image does not need.
  return true;
}

}  // namespace

Rgb8Image decode_jpeg(const std::uint8_t* data, std::size_t size, const std::string& source) {
  Decoder d{};
  d.cinfo.err = jpeg_std_error(&d.error.mgr);
  d.error.mgr.error_exit = on_error;
  d.error.mgr.emit_message = on_message;
  d.progress.progress_monitor = on_progress;
  jpeg_create_decompress(&d.cinfo);
  d.cinfo.progress = &d.progress;
  // The one buffer that grows with the image is the coefficient buffer of a multi-scan file, 2 bytes per sample
  // of each of at most 3 components (384 MiB at the pixel limit); libjpeg fails a larger request instead of
  // allocating it.
  d.cinfo.mem->max_memory_to_use = static_cast<long>(kImageMaxPixels * 8);
  Rgb8Image image;
  bool ok = false;
  try {
    ok = decode_into(d, data, size, source, image.pixels);
  } catch (...) {
    jpeg_destroy_decompress(&d.cinfo);
    throw;
  }
  image.width = static_cast<int>(d.cinfo.output_width);
  image.height = static_cast<int>(d.cinfo.output_height);
  jpeg_destroy_decompress(&d.cinfo);
  WMA_CHECK(ok, "[jpeg] ", source, ": ", d.error.message);
  return image;
}

}  // namespace wma::io

#else

namespace wma::io {

Rgb8Image decode_jpeg(const std::uint8_t*, std::size_t, const std::string& source) {
  fail("[jpeg] ", source,
       ": this build reads no JPEG: it needs libjpeg (Debian's libjpeg62-turbo-dev, "
       "tools/install_deps.sh) at configure time; or convert the picture to PNG");
}

}  // namespace wma::io

#endif
