// io/drawing.h: glyphs land where the SVG's text does and with the pixels the font defines, lines are
// antialiased in few colours, and the SVG carries the texts as escaped <text> elements.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "io/drawing.h"

namespace wma::io {
namespace {

struct Ink {
  int count = 0, x0 = 1 << 30, y0 = 1 << 30, x1 = -1, y1 = -1;  // bounding box, x1/y1 exclusive
};

Ink ink(const Rgb8Image& img) {
  Ink k;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const std::uint8_t* p = &img.pixels[(static_cast<std::size_t>(y) * img.width + x) * 3];
      if (p[0] == 255 && p[1] == 255 && p[2] == 255) continue;
      ++k.count;
      k.x0 = std::min(k.x0, x), k.y0 = std::min(k.y0, y), k.x1 = std::max(k.x1, x + 1), k.y1 = std::max(k.y1, y + 1);
    }
  return k;
}

TEST(Drawing, GlyphPixelsSitOnTheBaseline) {
  // 'H' has 17 set pixels of 5x7, each drawn 2x2, and the smoothing rounds the 4 corners where bar meets stems.
  Drawing d(40, 40);
  d.text({10, 30}, "H");
  const Ink h = ink(d.rasterize());
  EXPECT_EQ(h.count, 17 * 4 + 4);
  EXPECT_EQ(h.x0, 10);
  EXPECT_EQ(h.x1, 20);
  EXPECT_EQ(h.y0, 30 - Drawing::kCapHeight);
  EXPECT_EQ(h.y1, 30);

  Drawing e(40, 40);
  e.text({20, 30}, "H", Anchor::End);
  EXPECT_EQ(ink(e.rasterize()).x1, 20);

  // Turned a quarter left: the baseline is the column x = 30 and the text runs upwards from y = 35.
  Drawing v(40, 40);
  v.text({30, 35}, "H", Anchor::Start, TextStyle::Vertical);
  const Ink r = ink(v.rasterize());
  EXPECT_EQ(r.count, h.count);
  EXPECT_EQ(r.x0, 30 - Drawing::kCapHeight);
  EXPECT_EQ(r.x1, 30);
  EXPECT_EQ(r.y0, 25);
  EXPECT_EQ(r.y1, 35);
}

TEST(Drawing, DiagonalsAreSmoothedAndBoldIsWider) {
  Drawing plain(40, 40), bold(40, 40);
  plain.text({5, 30}, "/");
  bold.text({5, 30}, "/", Anchor::Start, TextStyle::Bold);
  // '/' is 5 diagonal pixels: 20 at 2x, plus 2 corners filled at each of the 4 inner steps.
  EXPECT_EQ(ink(plain.rasterize()).count, 5 * 4 + 4 * 2);
  EXPECT_GT(ink(bold.rasterize()).count, ink(plain.rasterize()).count);
}

TEST(Drawing, TextWidthCountsCharacters) {
  EXPECT_EQ(Drawing::text_width(""), 0);
  EXPECT_EQ(Drawing::text_width("abc"), 3 * Drawing::kAdvance - 2);
  EXPECT_EQ(Drawing::text_width("\xc3\xa9t\xc3\xa9"), Drawing::text_width("ete")) << "one glyph per UTF-8 character";
}

TEST(Drawing, LinesAreAntialiasedInFewColours) {
  Drawing d(200, 100);
  d.polyline({{10, 10}, {190, 90}}, {214, 39, 40}, 2.0f);
  d.polyline({{10, 90}, {190, 10}}, {31, 119, 180}, 2.0f);
  d.polyline({{0.5f, 50.5f}, {199.5f, 50.5f}}, {0, 0, 0}, 1.0f, 5.0f);
  const Rgb8Image img = d.rasterize();
  std::set<std::uint32_t> colours;
  for (std::size_t i = 0; i < img.pixels.size(); i += 3)
    colours.insert((img.pixels[i] << 16) | (img.pixels[i + 1] << 8) | img.pixels[i + 2]);
  EXPECT_GT(colours.size(), 4u) << "partly covered pixels are blended";
  EXPECT_LE(colours.size(), 1u + 3 * 4) << "white and four coverage steps of each colour";
  // The dashed line on a pixel row is crisp: black or white, dashes and gaps.
  int black = 0;
  for (int x = 20; x < 80; ++x) {
    const std::uint8_t* p = &img.pixels[(50 * 200 + x) * 3];
    EXPECT_TRUE((p[0] == 0 && p[1] == 0) || (p[0] == 255 && p[1] == 255)) << "x " << x;
    black += p[0] == 0;
  }
  EXPECT_GT(black, 20);
  EXPECT_LT(black, 50);
}

TEST(Drawing, SvgHasRealTextElements) {
  Drawing d(300, 100);
  d.text({150, 30}, "a<b & \"c\"", Anchor::Middle, TextStyle::Bold);
  d.text({20, 80}, "value", Anchor::Middle, TextStyle::Vertical, {10, 20, 30});
  d.polyline({{0, 0}, {10.3f, 20}}, {1, 2, 3}, 2.0f, 4.0f);
  const std::string svg = d.svg();
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"300\" height=\"100\"", 0), 0u);
  EXPECT_NE(svg.find("text-anchor=\"middle\""), std::string::npos);
  EXPECT_NE(svg.find("font-weight=\"bold\">a&lt;b &amp; &quot;c&quot;</text>"), std::string::npos);
  EXPECT_NE(svg.find("fill=\"#0a141e\" transform=\"rotate(-90 20 80)\">value</text>"), std::string::npos);
  EXPECT_NE(svg.find("stroke=\"#010203\" stroke-width=\"2\""), std::string::npos);
  EXPECT_NE(svg.find("stroke-dasharray=\"4\" points=\"0,0 10.3,20\""), std::string::npos);
}

}  // namespace
}  // namespace wma::io
