#include "io/drawing.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace wma::io {
namespace {

// Our own 5x7 glyphs for ' '..'~': nine rows each (seven above the baseline, two for descenders), bit 4 the
// leftmost column.
constexpr int kGlyphWidth = 5, kGlyphRows = 9, kGlyphAdvance = 6, kScale = 2;
constexpr std::uint8_t kFont[95][kGlyphRows] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // ' '
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04, 0x00, 0x00},  // '!'
    {0x0a, 0x0a, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // '"'
    {0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a, 0x00, 0x00},  // '#'
    {0x04, 0x0f, 0x14, 0x0e, 0x05, 0x1e, 0x04, 0x00, 0x00},  // '$'
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03, 0x00, 0x00},  // '%'
    {0x0c, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0d, 0x00, 0x00},  // '&'
    {0x04, 0x04, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // '\''
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02, 0x00, 0x00},  // '('
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08, 0x00, 0x00},  // ')'
    {0x00, 0x04, 0x15, 0x0e, 0x15, 0x04, 0x00, 0x00, 0x00},  // '*'
    {0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00, 0x00, 0x00},  // '+'
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c, 0x04, 0x08},  // ','
    {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00},  // '-'
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c, 0x00, 0x00},  // '.'
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00, 0x00, 0x00},  // '/'
    {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e, 0x00, 0x00},  // '0'
    {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00, 0x00},  // '1'
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f, 0x00, 0x00},  // '2'
    {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e, 0x00, 0x00},  // '3'
    {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02, 0x00, 0x00},  // '4'
    {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e, 0x00, 0x00},  // '5'
    {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e, 0x00, 0x00},  // '6'
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08, 0x00, 0x00},  // '7'
    {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e, 0x00, 0x00},  // '8'
    {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c, 0x00, 0x00},  // '9'
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00, 0x00, 0x00},  // ':'
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x04, 0x08, 0x00},  // ';'
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02, 0x00, 0x00},  // '<'
    {0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00},  // '='
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08, 0x00, 0x00},  // '>'
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04, 0x00, 0x00},  // '?'
    {0x0e, 0x11, 0x17, 0x15, 0x17, 0x10, 0x0e, 0x00, 0x00},  // '@'
    {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11, 0x00, 0x00},  // 'A'
    {0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e, 0x00, 0x00},  // 'B'
    {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e, 0x00, 0x00},  // 'C'
    {0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c, 0x00, 0x00},  // 'D'
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f, 0x00, 0x00},  // 'E'
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10, 0x00, 0x00},  // 'F'
    {0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f, 0x00, 0x00},  // 'G'
    {0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11, 0x00, 0x00},  // 'H'
    {0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00, 0x00},  // 'I'
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c, 0x00, 0x00},  // 'J'
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11, 0x00, 0x00},  // 'K'
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f, 0x00, 0x00},  // 'L'
    {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11, 0x00, 0x00},  // 'M'
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x00, 0x00},  // 'N'
    {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e, 0x00, 0x00},  // 'O'
    {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10, 0x00, 0x00},  // 'P'
    {0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d, 0x00, 0x00},  // 'Q'
    {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11, 0x00, 0x00},  // 'R'
    {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e, 0x00, 0x00},  // 'S'
    {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x00},  // 'T'
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e, 0x00, 0x00},  // 'U'
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04, 0x00, 0x00},  // 'V'
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a, 0x00, 0x00},  // 'W'
    {0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11, 0x00, 0x00},  // 'X'
    {0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04, 0x00, 0x00},  // 'Y'
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f, 0x00, 0x00},  // 'Z'
    {0x0e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0e, 0x00, 0x00},  // '['
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00, 0x00, 0x00},  // '\\'
    {0x0e, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0e, 0x00, 0x00},  // ']'
    {0x04, 0x0a, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // '^'
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f, 0x00},  // '_'
    {0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},  // '`'
    {0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f, 0x00, 0x00},  // 'a'
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e, 0x00, 0x00},  // 'b'
    {0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e, 0x00, 0x00},  // 'c'
    {0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f, 0x00, 0x00},  // 'd'
    {0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e, 0x00, 0x00},  // 'e'
    {0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08, 0x00, 0x00},  // 'f'
    {0x00, 0x00, 0x0f, 0x11, 0x11, 0x11, 0x0f, 0x01, 0x0e},  // 'g'
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00, 0x00},  // 'h'
    {0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e, 0x00, 0x00},  // 'i'
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c},  // 'j'
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12, 0x00, 0x00},  // 'k'
    {0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e, 0x00, 0x00},  // 'l'
    {0x00, 0x00, 0x1a, 0x15, 0x15, 0x15, 0x15, 0x00, 0x00},  // 'm'
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11, 0x00, 0x00},  // 'n'
    {0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e, 0x00, 0x00},  // 'o'
    {0x00, 0x00, 0x1e, 0x11, 0x11, 0x11, 0x1e, 0x10, 0x10},  // 'p'
    {0x00, 0x00, 0x0f, 0x11, 0x11, 0x11, 0x0f, 0x01, 0x01},  // 'q'
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10, 0x00, 0x00},  // 'r'
    {0x00, 0x00, 0x0f, 0x10, 0x0e, 0x01, 0x1e, 0x00, 0x00},  // 's'
    {0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06, 0x00, 0x00},  // 't'
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d, 0x00, 0x00},  // 'u'
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04, 0x00, 0x00},  // 'v'
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a, 0x00, 0x00},  // 'w'
    {0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x00, 0x00},  // 'x'
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x11, 0x0f, 0x01, 0x0e},  // 'y'
    {0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f, 0x00, 0x00},  // 'z'
    {0x03, 0x04, 0x04, 0x08, 0x04, 0x04, 0x03, 0x00, 0x00},  // '{'
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x00},  // '|'
    {0x18, 0x04, 0x04, 0x02, 0x04, 0x04, 0x18, 0x00, 0x00},  // '}'
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00, 0x00, 0x00},  // '~'
};
static_assert(kGlyphAdvance * kScale == Drawing::kAdvance && 7 * kScale == Drawing::kCapHeight);

// Glyph index per character; bytes outside printable ASCII read as '?', one per UTF-8 sequence.
std::vector<int> glyphs_of(const std::string& text) {
  std::vector<int> g;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c & 0xc0) == 0x80) continue;
    g.push_back(c >= 32 && c < 127 ? c - 32 : '?' - 32);
  }
  return g;
}

struct Mask {
  int width = 0, height = 0;
  std::vector<std::uint8_t> on;
  bool at(int x, int y) const { return x >= 0 && y >= 0 && x < width && y < height && on[y * width + x]; }
};

// The text's pixels at kScale = 2: each glyph pixel becomes 2x2, corners filled where EPX (Scale2x) finds a
// diagonal edge, so slanted strokes stay smooth. The top row is the cap line.
Mask text_mask(const std::string& text, bool bold) {
  const std::vector<int> glyphs = glyphs_of(text);
  Mask small{static_cast<int>(glyphs.size()) * kGlyphAdvance, kGlyphRows, {}};
  small.on.assign(static_cast<std::size_t>(small.width) * small.height, 0);
  for (std::size_t i = 0; i < glyphs.size(); ++i)
    for (int y = 0; y < kGlyphRows; ++y)
      for (int x = 0; x < kGlyphWidth; ++x)
        if ((kFont[glyphs[i]][y] >> (kGlyphWidth - 1 - x)) & 1)
          small.on[y * small.width + static_cast<int>(i) * kGlyphAdvance + x] = 1;
  Mask big{small.width * 2, small.height * 2, {}};
  big.on.assign(static_cast<std::size_t>(big.width) * big.height, 0);
  for (int y = 0; y < small.height; ++y)
    for (int x = 0; x < small.width; ++x) {
      const bool p = small.at(x, y), a = small.at(x, y - 1), b = small.at(x + 1, y), c = small.at(x - 1, y),
                 d = small.at(x, y + 1);
      const bool corners[4] = {c == a && c != d && a != b ? a : p, a == b && a != c && b != d ? b : p,
                               d == c && d != b && c != a ? c : p, b == d && b != a && d != c ? d : p};
      for (int k = 0; k < 4; ++k) big.on[(2 * y + k / 2) * big.width + 2 * x + k % 2] = corners[k];
    }
  if (bold)
    for (int y = 0; y < big.height; ++y)
      for (int x = big.width - 1; x > 0; --x) big.on[y * big.width + x] |= big.on[y * big.width + x - 1];
  return big;
}

float anchor_offset(Anchor anchor, float width) {
  return anchor == Anchor::Start ? 0.0f : anchor == Anchor::Middle ? -width / 2 : -width;
}

float segment_distance(float px, float py, Point a, Point b) {
  const float dx = b.x - a.x, dy = b.y - a.y, len2 = dx * dx + dy * dy;
  const float t = len2 > 0 ? std::clamp(((px - a.x) * dx + (py - a.y) * dy) / len2, 0.0f, 1.0f) : 0.0f;
  return std::hypot(px - (a.x + t * dx), py - (a.y + t * dy));
}

// The visible pieces of a polyline: the whole of it, or its dashes.
std::vector<std::vector<Point>> dashes(const std::vector<Point>& points, float dash) {
  if (dash <= 0) return {points};
  std::vector<std::vector<Point>> pieces;
  bool on = true;
  float left = dash;  // of the current dash or gap
  std::vector<Point> piece = {points.front()};
  for (std::size_t i = 1; i < points.size(); ++i) {
    Point a = points[i - 1];
    const Point b = points[i];
    float len = std::hypot(b.x - a.x, b.y - a.y);
    while (len > left) {
      const float t = left / len;
      a = {a.x + t * (b.x - a.x), a.y + t * (b.y - a.y)};
      len -= left;
      if (on) {
        piece.push_back(a);
        pieces.push_back(std::move(piece));
      }
      piece = {a};
      on = !on;
      left = dash;
    }
    left -= len;
    if (on) piece.push_back(b);
  }
  if (on && piece.size() > 1) pieces.push_back(std::move(piece));
  return pieces;
}

std::string hex(Colour c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

std::string number(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  std::string s = buf;
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s;
}

std::string xml_escaped(const std::string& text) {
  std::string s;
  for (const char c : text) {
    switch (c) {
      case '&': s += "&amp;"; break;
      case '<': s += "&lt;"; break;
      case '>': s += "&gt;"; break;
      case '"': s += "&quot;"; break;
      default: s += c;
    }
  }
  return s;
}

}  // namespace

void Drawing::polyline(std::vector<Point> points, Colour colour, float width, float dash) {
  for (const Point& p : points)
    WMA_CHECK(std::isfinite(p.x) && std::isfinite(p.y), "[drawing] a polyline point is not finite");
  if (points.size() >= 2) lines_.push_back({std::move(points), colour, width, dash});
}

void Drawing::text(Point at, std::string text, Anchor anchor, TextStyle style, Colour colour) {
  texts_.push_back({at, std::move(text), anchor, style, colour});
}

float Drawing::text_width(const std::string& text) {
  const std::size_t n = glyphs_of(text).size();
  return n == 0 ? 0.0f : static_cast<float>(n * kAdvance - kScale);  // the last glyph's spacing column is not text
}

Rgb8Image Drawing::rasterize() const {
  Rgb8Image img{width_, height_, std::vector<std::uint8_t>(static_cast<std::size_t>(width_) * height_ * 3, 255)};
  // Coverage in kLevels steps, and every blend snapped to the nearest of the drawing's colours at those steps
  // over white: a plot keeps to at most 256 colours, which io::write_png stores as a palette image (antialiased
  // truecolour plots were 3x larger). Where lines cross, the mix is the nearest of those colours.
  constexpr int kLevels = 4;
  std::vector<Colour> bases;
  for (const Line& line : lines_) bases.push_back(line.colour);
  for (const Text& t : texts_) bases.push_back(t.colour);
  auto key = [](Colour c) { return (c.r << 16) | (c.g << 8) | c.b; };
  std::sort(bases.begin(), bases.end(), [&](Colour a, Colour b) { return key(a) < key(b); });
  bases.erase(std::unique(bases.begin(), bases.end(), [&](Colour a, Colour b) { return key(a) == key(b); }),
              bases.end());
  std::vector<std::array<int, 3>> palette = {{255, 255, 255}};
  for (const Colour c : bases)
    for (int k = 1; k <= kLevels; ++k) {
      const float a = static_cast<float>(k) / kLevels;
      palette.push_back({static_cast<int>(std::lround(255 + a * (c.r - 255))),
                         static_cast<int>(std::lround(255 + a * (c.g - 255))),
                         static_cast<int>(std::lround(255 + a * (c.b - 255)))});
    }
  // More than 63 colours in one drawing: plain blending, a truecolour image.
  const bool snap = palette.size() <= 256;
  auto blend = [&](int x, int y, Colour c, float alpha) {
    const float a = std::round(alpha * kLevels) / kLevels;
    if (a <= 0) return;
    std::uint8_t* p = &img.pixels[(static_cast<std::size_t>(y) * width_ + x) * 3];
    const std::array<int, 3> rgb = {c.r, c.g, c.b};
    std::array<int, 3> mixed;
    for (int k = 0; k < 3; ++k) mixed[k] = static_cast<int>(std::lround(p[k] + a * (rgb[k] - p[k])));
    if (snap) {
      auto distance = [&](const std::array<int, 3>& q) {
        return (q[0] - mixed[0]) * (q[0] - mixed[0]) + (q[1] - mixed[1]) * (q[1] - mixed[1]) +
               (q[2] - mixed[2]) * (q[2] - mixed[2]);
      };
      mixed = *std::min_element(palette.begin(), palette.end(),
                                [&](const auto& u, const auto& v) { return distance(u) < distance(v); });
    }
    for (int k = 0; k < 3; ++k) p[k] = static_cast<std::uint8_t>(mixed[k]);
  };
  for (const Line& line : lines_) {
    // Coverage is the largest over the line's segments, so the joints between segments are not painted twice.
    const float reach = line.width / 2 + 0.5f;
    float x0 = width_, y0 = height_, x1 = 0, y1 = 0;
    for (const Point& p : line.points) {
      x0 = std::min(x0, p.x - reach), y0 = std::min(y0, p.y - reach);
      x1 = std::max(x1, p.x + reach), y1 = std::max(y1, p.y + reach);
    }
    const int bx = std::max(0, static_cast<int>(std::floor(x0))), by = std::max(0, static_cast<int>(std::floor(y0)));
    const int bw = std::min(width_, static_cast<int>(std::ceil(x1)) + 1) - bx;
    const int bh = std::min(height_, static_cast<int>(std::ceil(y1)) + 1) - by;
    if (bw <= 0 || bh <= 0) continue;
    std::vector<float> cover(static_cast<std::size_t>(bw) * bh, 0.0f);
    for (const std::vector<Point>& piece : dashes(line.points, line.dash))
      for (std::size_t i = 1; i < piece.size(); ++i) {
        const Point a = piece[i - 1], b = piece[i];
        const int sx0 = std::max(bx, static_cast<int>(std::floor(std::min(a.x, b.x) - reach)));
        const int sx1 = std::min(bx + bw - 1, static_cast<int>(std::ceil(std::max(a.x, b.x) + reach)));
        const int sy0 = std::max(by, static_cast<int>(std::floor(std::min(a.y, b.y) - reach)));
        const int sy1 = std::min(by + bh - 1, static_cast<int>(std::ceil(std::max(a.y, b.y) + reach)));
        for (int y = sy0; y <= sy1; ++y)
          for (int x = sx0; x <= sx1; ++x) {
            const float c = std::clamp(reach - segment_distance(x + 0.5f, y + 0.5f, a, b), 0.0f, 1.0f);
            float& slot = cover[static_cast<std::size_t>(y - by) * bw + (x - bx)];
            slot = std::max(slot, c);
          }
      }
    for (int y = 0; y < bh; ++y)
      for (int x = 0; x < bw; ++x)
        if (const float c = cover[static_cast<std::size_t>(y) * bw + x]; c > 0) blend(bx + x, by + y, line.colour, c);
  }
  for (const Text& t : texts_) {
    const Mask m = text_mask(t.text, t.style == TextStyle::Bold);
    const int along = static_cast<int>(std::lround(anchor_offset(t.anchor, text_width(t.text))));
    const int ax = static_cast<int>(std::lround(t.at.x)), ay = static_cast<int>(std::lround(t.at.y));
    const bool vertical = t.style == TextStyle::Vertical;
    for (int my = 0; my < m.height; ++my)
      for (int mx = 0; mx < m.width; ++mx) {
        if (!m.on[my * m.width + mx]) continue;
        // Horizontal: cap line kCapHeight above the baseline. Vertical: the same turned a quarter to the left.
        const int x = vertical ? ax + my - kCapHeight : ax + along + mx;
        const int y = vertical ? ay - along - mx - 1 : ay + my - kCapHeight;
        if (x >= 0 && y >= 0 && x < width_ && y < height_) blend(x, y, t.colour, 1.0f);
      }
  }
  return img;
}

std::string Drawing::svg() const {
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width_) + "\" height=\"" +
                  std::to_string(height_) + "\" viewBox=\"0 0 " + std::to_string(width_) + " " +
                  std::to_string(height_) + "\">\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  for (const Line& line : lines_) {
    s += "<polyline fill=\"none\" stroke=\"" + hex(line.colour) + "\" stroke-width=\"" + number(line.width) +
         "\" stroke-linejoin=\"round\" stroke-linecap=\"round\"";
    if (line.dash > 0) s += " stroke-dasharray=\"" + number(line.dash) + "\"";
    s += " points=\"";
    for (std::size_t i = 0; i < line.points.size(); ++i) {
      if (i > 0) s += ' ';
      s += number(line.points[i].x);
      s += ',';
      s += number(line.points[i].y);
    }
    s += "\"/>\n";
  }
  // A monospace face at 20 px has the bitmap font's 12 px advance and about its 14 px cap height.
  for (const Text& t : texts_) {
    const char* anchor = t.anchor == Anchor::Start ? "start" : t.anchor == Anchor::Middle ? "middle" : "end";
    const std::string x = number(t.at.x), y = number(t.at.y);
    s += "<text x=\"" + x + "\" y=\"" + y + "\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" " +
         "font-size=\"20\" text-anchor=\"" + anchor + "\" fill=\"" + hex(t.colour) + "\"";
    if (t.style == TextStyle::Bold) s += " font-weight=\"bold\"";
    if (t.style == TextStyle::Vertical) s += " transform=\"rotate(-90 " + x + " " + y + ")\"";
    s += '>';
    s += xml_escaped(t.text);
    s += "</text>\n";
  }
  return s + "</svg>\n";
}

}  // namespace wma::io
