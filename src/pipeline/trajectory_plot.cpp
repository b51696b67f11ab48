#include "pipeline/trajectory_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "io/h5.h"
#include "io/json.h"

namespace wma::pipeline {
namespace {

using io::Anchor;
using io::Colour;
using io::Drawing;
using io::Point;
using io::TextStyle;

// matplotlib's tab10, then six more dark enough to read on white: the dual-arm robots have 14 to 16 dims.
constexpr Colour kPalette[16] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                                 {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                                 {188, 189, 34},  {23, 190, 207}, {0, 0, 128},     {128, 0, 0},
                                 {0, 110, 110},   {110, 110, 0},  {200, 0, 200},   {0, 0, 0}};
constexpr Colour kBlack{0, 0, 0}, kGrid{225, 225, 225}, kBoundary{110, 110, 110};
constexpr int kPlotWidth = 760, kPlotHeight = 340, kLegendRow = 20;

struct Ticks {
  std::vector<double> values;
  double step = 1;
};

// Ticks at multiples of 1, 2 or 5 times a power of ten, about `target` of them within [lo, hi].
Ticks nice_ticks(double lo, double hi, int target, double min_step) {
  const double raw = (hi - lo) / target, magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  Ticks t;
  t.step = std::max(min_step, (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * magnitude);
  for (double k = std::ceil(lo / t.step - 1e-9); k * t.step <= hi + 1e-9 * t.step; ++k) t.values.push_back(k * t.step);
  return t;
}

// A tick value with the decimals its step needs (0.05 -> 2), never "-0".
std::string tick_label(double v, double step) {
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, std::abs(v) < step * 1e-6 ? 0.0 : v);
  return buf;
}

std::string dim_name(const std::vector<std::string>& names, std::size_t d) {
  return d < names.size() && !names[d].empty() ? names[d] : "joint " + std::to_string(d);
}

// Joint names of one feature of a LeRobot info.json; empty when it has none.
std::vector<std::string> feature_names(const io::json::Value& info, const std::string& feature) {
  const io::json::Value* features = info.find("features");
  const io::json::Value* entry = features ? features->find(feature) : nullptr;
  const io::json::Value* names = entry ? entry->find("names") : nullptr;
  if (names && names->is_object())  // LeRobot writes e.g. {"motors": [...]}
    for (const auto& [key, value] : names->as_object())
      if (value.is_array()) {
        names = &value;
        break;
      }
  std::vector<std::string> out;
  if (names && names->is_array())
    for (const io::json::Value& n : names->as_array()) out.push_back(n.is_string() ? n.as_string() : std::string());
  return out;
}

}  // namespace

io::Drawing draw_trajectories(const TrajectoryPlot& plot) {
  WMA_CHECK(!plot.rows.empty() && !plot.rows[0].empty(), "[plot] ", plot.title, ": nothing to plot");
  const std::size_t steps = plot.rows.size(), dims = plot.rows[0].size();
  // A diverged pass can predict NaN or inf: those values are left out (gaps in their lines).
  float lo = INFINITY, hi = -INFINITY;
  for (const std::vector<float>& row : plot.rows) {
    WMA_CHECK(row.size() == dims, "[plot] ", plot.title, ": rows of different widths");
    for (const float v : row)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  if (lo > hi) lo = hi = 0;
  if (hi - lo < 1e-6f) lo -= 1, hi += 1;
  const float pad = (hi - lo) * 0.05f;
  lo -= pad, hi += pad;
  const double x_lo = static_cast<double>(plot.first_step) - (steps == 1 ? 0.5 : 0.0);
  const double x_hi =
      static_cast<double>(plot.first_step + static_cast<std::int64_t>(steps) - 1) + (steps == 1 ? 0.5 : 0.0);
  const Ticks y_ticks = nice_ticks(lo, hi, 6, 0.0), x_ticks = nice_ticks(x_lo, x_hi, 8, 1.0);

  float widest_tick = 0, widest_name = 0;
  for (const double v : y_ticks.values)
    widest_tick = std::max(widest_tick, Drawing::text_width(tick_label(v, y_ticks.step)));
  for (std::size_t d = 0; d < dims; ++d)
    widest_name = std::max(widest_name, Drawing::text_width(dim_name(plot.names, d)));
  const int left = 44 + static_cast<int>(widest_tick) + 10, top = 64, right = left + kPlotWidth,
            bottom = top + kPlotHeight;
  const int legend_rows = kPlotHeight / kLegendRow,
            legend_columns = static_cast<int>((dims + legend_rows - 1) / legend_rows);
  const int legend_column_width = 36 + static_cast<int>(widest_name) + 16;
  const int width = std::max(right + 20 + legend_columns * legend_column_width,
                             static_cast<int>(Drawing::text_width(plot.title)) + 32);
  Drawing d(width, bottom + 64);

  auto x_at = [&](double step) { return static_cast<float>(left + (step - x_lo) / (x_hi - x_lo) * kPlotWidth); };
  auto y_at = [&](double v) { return static_cast<float>(bottom - (v - lo) / (hi - lo) * kPlotHeight); };
  // 1-wide lines on pixel centres stay crisp.
  auto centre = [](float p) { return std::floor(p) + 0.5f; };

  d.text({width / 2.0f, 30}, plot.title, Anchor::Middle, TextStyle::Bold);
  for (const double v : y_ticks.values) {
    const float y = centre(y_at(v));
    d.polyline({{left + 0.5f, y}, {right + 0.5f, y}}, kGrid);
    d.polyline({{left - 5.0f, y}, {left + 0.5f, y}}, kBlack);
    d.text({left - 9.0f, y + Drawing::kCapHeight / 2.0f}, tick_label(v, y_ticks.step), Anchor::End);
  }
  for (const double v : x_ticks.values) {
    const float x = centre(x_at(v));
    d.polyline({{x, top + 0.5f}, {x, bottom + 0.5f}}, kGrid);
    d.polyline({{x, bottom + 0.5f}, {x, bottom + 6.0f}}, kBlack);
    d.text({x, bottom + 26.0f}, tick_label(v, x_ticks.step), Anchor::Middle);
  }
  d.text({(left + right) / 2.0f, bottom + 54.0f}, "step", Anchor::Middle);
  d.text({28, (top + bottom) / 2.0f}, plot.value_label, Anchor::Middle, TextStyle::Vertical);

  if (plot.steps_per_iteration > 0) {
    // Dashed lines between the last step of one iteration and the first of the next; the iteration numbers in a
    // band above the plot, centred over their spans (every n-th one where they would not fit side by side).
    const int spi = plot.steps_per_iteration;
    const int spans = static_cast<int>((steps + spi - 1) / spi);
    const float span_px = static_cast<float>(spi / (x_hi - x_lo) * kPlotWidth);
    const float label_px = Drawing::text_width(std::to_string(plot.first_iteration + spans - 1)) + 8;
    const int every = std::max(1, static_cast<int>(std::ceil(label_px / span_px)));
    d.text({left - 9.0f, top - 8.0f}, "itr", Anchor::End, TextStyle::Plain, kBoundary);
    for (int k = 0; k < spans; ++k) {
      const double start = static_cast<double>(plot.first_step + static_cast<std::int64_t>(k) * spi);
      if (k > 0) {
        const float x = centre(x_at(start - 0.5));
        d.polyline({{x, top + 0.5f}, {x, bottom + 0.5f}}, kBoundary, 1.0f, 5.0f);
      }
      if (k % every == 0) {
        const float from = x_at(std::max(start - 0.5, x_lo)), to = x_at(std::min(start + spi - 0.5, x_hi));
        d.text({(from + to) / 2, top - 8.0f}, std::to_string(plot.first_iteration + k), Anchor::Middle,
               TextStyle::Plain, kBoundary);
      }
    }
  }

  for (std::size_t j = 0; j < dims; ++j) {
    std::vector<Point> piece;
    auto flush = [&] {
      if (piece.size() == 1) piece.push_back({piece[0].x + 1, piece[0].y});  // a lone value: a dot, not nothing
      d.polyline(std::move(piece), kPalette[j % 16], 2.0f);
      piece.clear();
    };
    for (std::size_t s = 0; s < steps; ++s) {
      const float v = plot.rows[s][j];
      if (!std::isfinite(v)) {
        flush();
        continue;
      }
      piece.push_back({x_at(static_cast<double>(plot.first_step + static_cast<std::int64_t>(s))), y_at(v)});
    }
    flush();
    const float lx = static_cast<float>(right + 20 + static_cast<int>(j) / legend_rows * legend_column_width);
    const float ly = static_cast<float>(top + 4 + (static_cast<int>(j) % legend_rows) * kLegendRow);
    d.polyline({{lx, ly + 7}, {lx + 26, ly + 7}}, kPalette[j % 16], 3.0f);
    d.text({lx + 36, ly + Drawing::kCapHeight}, dim_name(plot.names, j));
  }
  d.polyline({{left + 0.5f, top + 0.5f},
              {right + 0.5f, top + 0.5f},
              {right + 0.5f, bottom + 0.5f},
              {left + 0.5f, bottom + 0.5f},
              {left + 0.5f, top + 0.5f}},
             kBlack);
  return d;
}

TrajectoryLabels read_trajectory_labels(const std::string& prompt_dir, const std::string& dataset,
                                        const std::string& transition_path) {
  TrajectoryLabels labels;
  labels.dataset = dataset;
  const std::filesystem::path info =
      std::filesystem::path(prompt_dir) / "transitions" / dataset / "meta_data" / "info.json";
  if (std::filesystem::exists(info)) {
    std::ifstream f(info, std::ios::binary);
    std::ostringstream text;
    text << f.rdbuf();
    WMA_CHECK(f.good() || f.eof(), "[plot] cannot read ", info.string());
    io::json::Value doc;
    try {
      doc = io::json::parse(text.str());
    } catch (const Error& e) {
      fail("[plot] ", info.string(), ": ", e.what());
    }
    labels.action_names = feature_names(doc, "action");
    labels.state_names = feature_names(doc, "observation.state");
  }
  if (const std::string a = io::read_h5_string_attribute(transition_path, "action_type"); !a.empty())
    labels.action_quantity = a;
  if (const std::string s = io::read_h5_string_attribute(transition_path, "state_type"); !s.empty())
    labels.state_quantity = s;
  return labels;
}

}  // namespace wma::pipeline
