// A small vector drawing (polylines and one-line texts in pixel coordinates, y down) rendered two ways: to an
// RGB image, with antialiased lines in few colours (so io::write_png stores a palette image) and our own bitmap
// font (printable ASCII, 5x7 glyphs drawn at twice their size with EPX corner smoothing), and to SVG, where the
// texts are real <text> elements. The bitmap font needs no font library or font file at run time, so every build
// draws the same text; the SVG scales and its text can be searched and copied.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/png.h"

namespace wma::io {

struct Colour {
  std::uint8_t r = 0, g = 0, b = 0;
};

struct Point {
  float x = 0, y = 0;
};

// Which end of a text sits at its point.
enum class Anchor { Start, Middle, End };
// Vertical text reads bottom to top, its glyph tops towards -x.
enum class TextStyle { Plain, Bold, Vertical };

class Drawing {
 public:
  // Every text is one line of this cap height and advance per character, in both renderings.
  static constexpr int kCapHeight = 14;
  static constexpr int kAdvance = 12;
  static constexpr int kDescent = 4;

  Drawing(int width, int height) : width_(width), height_(height) {}
  int width() const { return width_; }
  int height() const { return height_; }

  // Straight segments through `points` (finite, else it throws); `dash` > 0 draws dashes and gaps of that length,
  // starting with a dash. A 1-wide line on pixel centres (x.5) is crisp.
  void polyline(std::vector<Point> points, Colour colour, float width = 1.0f, float dash = 0.0f);
  // `at` is the baseline point at the anchor.
  void text(Point at, std::string text, Anchor anchor = Anchor::Start, TextStyle style = TextStyle::Plain,
            Colour colour = {});

  // Width of `text` along its baseline, in pixels.
  static float text_width(const std::string& text);

  Rgb8Image rasterize() const;
  std::string svg() const;

 private:
  struct Line {
    std::vector<Point> points;
    Colour colour;
    float width, dash;
  };
  struct Text {
    Point at;
    std::string text;
    Anchor anchor;
    TextStyle style;
    Colour colour;
  };
  int width_, height_;
  std::vector<Line> lines_;
  std::vector<Text> texts_;
};

}  // namespace wma::io
