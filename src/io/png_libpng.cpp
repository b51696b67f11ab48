// PNG decoding through libpng (a build with WMA_WITH_LIBPNG), converted by the same png_row_to_rgb8 as our own
// decoder. libpng's progressive reader is used because it stops inflating once the declared rows are in: the
// sequential one (png_read_image) inflates whatever follows to its end, seconds for a 6 MB decompression bomb.
// libpng reports errors by longjmp: decode_into() and the callbacks hold nothing with a destructor while a
// library call may jump, and what they fill belongs to the caller.
#include "io/png_read.h"

#if WMA_WITH_LIBPNG

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <exception>
#include <vector>

#include "core/error.h"

namespace wma::io {
namespace {

struct State {
  PngSampleFormat format;
  std::vector<std::uint8_t> rows;  // [height, row_bytes] as the file packs them
  std::size_t row_bytes = 0;
  png_uint_32 width = 0, height = 0;
  bool ended = false;  // IEND reached, which libpng allows only after complete image data
  char message[256] = {};
};

[[noreturn]] void on_error(png_structp png, png_const_charp message) {
  State* s = static_cast<State*>(png_get_error_ptr(png));
  if (message != s->message) std::snprintf(s->message, sizeof s->message, "%s", message);
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}

// After the chunks before the first IDAT. No transformations: rows arrive as the file packs them, which is what
// png_row_to_rgb8 reads; libpng only undoes the interlacing.
void on_info(png_structp png, png_infop info) {
  State& s = *static_cast<State*>(png_get_progressive_ptr(png));
  s.width = png_get_image_width(png, info);
  s.height = png_get_image_height(png, info);
  s.format.color_type = png_get_color_type(png, info);
  s.format.bit_depth = png_get_bit_depth(png, info);
  png_colorp palette = nullptr;
  int entries = 0;
  png_get_PLTE(png, info, &palette, &entries);
  if (png_get_interlace_type(png, info) != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
  png_read_update_info(png, info);
  s.row_bytes = png_get_rowbytes(png, info);
  // An allocation failure must not unwind through libpng: it becomes a libpng error.
  bool allocated = true;
  try {
    for (int i = 0; i < entries; ++i)
      s.format.palette.insert(s.format.palette.end(), {palette[i].red, palette[i].green, palette[i].blue});
    s.rows.resize(s.row_bytes * s.height);
  } catch (const std::exception& e) {
    std::snprintf(s.message, sizeof s.message, "%s", e.what());
    allocated = false;
  }
  if (!allocated) png_error(png, s.message);
}

// Interlaced images come once per pass for each row, merged into the row by libpng; rows a pass skips come as null.
void on_row(png_structp png, png_bytep new_row, png_uint_32 row, int) {
  State& s = *static_cast<State*>(png_get_progressive_ptr(png));
  if (new_row != nullptr && row < s.height)
    png_progressive_combine_row(png, s.rows.data() + row * s.row_bytes, new_row);
}

void on_end(png_structp png, png_infop) { static_cast<State*>(png_get_progressive_ptr(png))->ended = true; }

// Returns false with the state's message set when libpng failed.
bool decode_into(png_structp png, png_infop info, const std::uint8_t* data, std::size_t size, State& state) {
  if (setjmp(png_jmpbuf(png)) != 0) return false;
  png_set_progressive_read_fn(png, &state, on_info, on_row, on_end);
  png_process_data(png, info, const_cast<png_bytep>(data), size);
  return true;
}

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

Rgb8Image decode_png_libpng(const std::uint8_t* data, std::size_t size, const std::string& source) {
  WMA_CHECK(size >= 8 && png_sig_cmp(data, 0, 8) == 0, "[png] ", source, ": not a PNG file");
  // IHDR is the first chunk (libpng fails any other): the size is checked here, as by our own decoder, before
  // libpng allocates anything.
  if (size >= 24 && std::memcmp(data + 12, "IHDR", 4) == 0)
    check_image_size(be32(data + 16), be32(data + 20), "[png] ", source);
  State state;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, on_error, on_warning);
  WMA_CHECK(png != nullptr, "[png] ", source, ": libpng could not start");
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    fail("[png] ", source, ": libpng could not start");
  }
  png_set_user_limits(png, kImageMaxSide, kImageMaxSide);
  // Bounds each ancillary chunk libpng keeps, decompressed (iCCP, zTXt, iTXt) or not.
  png_set_chunk_malloc_max(png, 8u << 20);
  // A CRC mismatch fails in every chunk, as in our decoder and PIL (libpng skips bad ancillary chunks by default).
  png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
  const bool ok = decode_into(png, info, data, size, state);
  png_destroy_read_struct(&png, &info, nullptr);
  WMA_CHECK(ok, "[png] ", source, ": ", state.message);
  WMA_CHECK(state.ended, "[png] ", source, ": truncated (no IEND chunk)");
  Rgb8Image image{static_cast<int>(state.width), static_cast<int>(state.height),
                  std::vector<std::uint8_t>(std::size_t{state.width} * state.height * 3)};
  for (png_uint_32 y = 0; y < state.height; ++y)
    png_row_to_rgb8(state.format, state.rows.data() + y * state.row_bytes, state.width,
                    &image.pixels[std::size_t{y} * state.width * 3], 3);
  return image;
}

}  // namespace wma::io

#endif
