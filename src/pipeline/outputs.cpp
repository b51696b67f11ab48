// Output files of the interaction loop: upstream's videos (save_results) and our action/state records.
#include "pipeline/outputs.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/json.h"
#include "io/video.h"
#include "ops/ops.h"

namespace wma::pipeline {
namespace fs = std::filesystem;

void write_text_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    WMA_CHECK(f.good(), "[output] cannot write ", tmp);
    f << text;
    WMA_CHECK(f.good(), "[output] writing ", tmp, " failed");
  }
  fs::rename(tmp, path);
}

std::vector<io::Rgb8Image> video_frames(const Tensor& video) {
  const Tensor host = ops::to_device(video, Device::CPU);
  return io::video_to_frames(ops::contiguous(host.select(0, 0).permute({3, 0, 1, 2})));
}

namespace {
// ",<value>" with float32 round-trip precision.
std::string csv_cell(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, ",%.9g", v);
  return buf;
}
}  // namespace

EpisodeWriter::EpisodeWriter(std::string savedir, std::string videoid, std::int64_t frame_stride, int save_fps,
                             int exe_steps, std::int64_t action_dim, std::int64_t state_dim,
                             std::optional<io::NormalizationStats> stats)
    : savedir_(std::move(savedir)), videoid_(std::move(videoid)), fs_(frame_stride), save_fps_(save_fps),
      exe_steps_(exe_steps), action_dim_(action_dim), state_dim_(state_dim), stats_(std::move(stats)) {
  sample_dir_ = (fs::path(savedir_) / "inference" / ("sample_" + videoid_)).string();
  for (const char* kind : {"dm", "wm"}) fs::create_directories(fs::path(sample_dir_) / kind / std::to_string(fs_));
  fs::create_directories(fs::path(savedir_) / "inference");
}

void EpisodeWriter::write_rows(const std::string& stem, const char* what, const Tensor& normalised, std::int64_t dim,
                               const std::string& stats_key, int iteration) {
  const Tensor rows = normalised.select(0, 0);
  const std::int64_t steps = rows.size(0), width = rows.size(1);
  const std::vector<float> all = rows.to_floats();
  std::vector<float> own;  // the robot's dims, without the padding
  for (std::int64_t s = 0; s < steps; ++s)
    for (std::int64_t d = 0; d < dim; ++d) own.push_back(all[s * width + d]);
  std::optional<std::vector<float>> raw;
  if (stats_ && stats_->has(stats_key)) raw = io::unnormalize_min_max(own, stats_->at(stats_key));

  io::json::Array norm_rows, raw_rows;
  std::string csv = "step";
  for (std::int64_t d = 0; d < dim; ++d) csv += ",norm_" + std::to_string(d);
  if (raw)
    for (std::int64_t d = 0; d < dim; ++d) csv += ",raw_" + std::to_string(d);
  csv += "\n";
  for (std::int64_t s = 0; s < steps; ++s) {
    io::json::Array n, r;
    csv += std::to_string(s);
    for (std::int64_t d = 0; d < dim; ++d) {
      n.emplace_back(static_cast<double>(own[s * dim + d]));
      csv += csv_cell(own[s * dim + d]);
    }
    if (raw)
      for (std::int64_t d = 0; d < dim; ++d) {
        r.emplace_back(static_cast<double>((*raw)[s * dim + d]));
        csv += csv_cell((*raw)[s * dim + d]);
      }
    csv += "\n";
    norm_rows.emplace_back(std::move(n));
    if (raw) raw_rows.emplace_back(std::move(r));
  }
  io::json::Object doc{{"iteration", iteration}, {"what", what}, {"dims", dim}, {"normalized", std::move(norm_rows)}};
  if (raw) doc.emplace_back("unnormalized", std::move(raw_rows));
  write_text_file(stem + ".json", io::json::dump(io::json::Value(std::move(doc))));
  write_text_file(stem + ".csv", csv);
  written_.push_back(stem + ".json");
  written_.push_back(stem + ".csv");
}

void EpisodeWriter::write_iteration(const IterationResult& r) {
  const std::string fs = std::to_string(fs_), itr = "itr-" + std::to_string(r.index);
  const io::VideoOptions options{save_fps_, 10};
  const fs::path dm = fs::path(sample_dir_) / "dm" / fs, wm = fs::path(sample_dir_) / "wm" / fs;
  written_.push_back(io::write_video((dm / (itr + ".mp4")).string(), video_frames(r.policy.video), options));
  const std::vector<io::Rgb8Image> world = video_frames(r.world.video);
  written_.push_back(io::write_video((wm / (itr + ".mp4")).string(), world, options));
  full_video_.insert(full_video_.end(), world.begin(), world.begin() + std::min<std::size_t>(exe_steps_, world.size()));

  write_rows((dm / (itr + "_actions")).string(), "actions", r.policy.actions, action_dim_, "action", r.index);
  write_rows((wm / (itr + "_states")).string(), "states", r.world.states, state_dim_, "observation.state", r.index);
  const std::vector<float> a = r.policy.actions.select(0, 0).to_floats();
  const std::int64_t width = r.policy.actions.size(-1);
  std::vector<std::vector<float>> chunk;
  for (std::int64_t s = 0; s < r.policy.actions.size(1); ++s) {
    chunk.emplace_back(a.begin() + s * width, a.begin() + s * width + action_dim_);
    action_rows_.push_back(chunk.back());
  }
  const std::string plot = (dm / (itr + "_actions.png")).string();
  io::write_png(plot, plot_trajectories(chunk, static_cast<int>(chunk.size())));
  written_.push_back(plot);
}

void EpisodeWriter::finish() {
  const fs::path inference = fs::path(savedir_) / "inference";
  if (!full_video_.empty())
    written_.push_back(io::write_video((inference / (videoid_ + "_full_fs" + std::to_string(fs_) + ".mp4")).string(),
                                       full_video_, io::VideoOptions{save_fps_, 10}));
  if (!action_rows_.empty()) {
    const std::string plot = (inference / (videoid_ + "_actions_fs" + std::to_string(fs_) + ".png")).string();
    const int per_iteration = static_cast<int>(action_rows_.size() / std::max<std::size_t>(1, full_video_.size() / std::max(1, exe_steps_)));
    io::write_png(plot, plot_trajectories(action_rows_, per_iteration));
    written_.push_back(plot);
  }
}

io::Rgb8Image plot_trajectories(const std::vector<std::vector<float>>& rows, int chunk, int width, int height) {
  io::Rgb8Image img;
  img.width = width;
  img.height = height;
  img.pixels.assign(static_cast<std::size_t>(width) * height * 3, 255);
  auto put = [&](int x, int y, const std::uint8_t* c) {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    std::copy(c, c + 3, &img.pixels[(static_cast<std::size_t>(y) * width + x) * 3]);
  };
  auto line = [&](int x0, int y0, int x1, int y1, const std::uint8_t* c, int dash = 0) {
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy, n = 0;
    for (;;) {
      if (dash == 0 || (n / dash) % 2 == 0) put(x0, y0, c);
      ++n;
      if (x0 == x1 && y0 == y1) break;
      const int e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  };
  const int left = 40, right = width - 20, top = 20, bottom = height - 30;
  // Values are normalised to [-1, 1]; the axis spans [-1.1, 1.1] so the clip bounds stay visible.
  auto ypix = [&](float v) {
    const float c = std::clamp(v, -1.1f, 1.1f);
    return static_cast<int>(std::lround(top + (1.1f - c) / 2.2f * (bottom - top)));
  };
  const std::size_t steps = rows.size();
  auto xpix = [&](std::size_t s) {
    return steps <= 1 ? left : static_cast<int>(left + static_cast<double>(s) * (right - left) / (steps - 1));
  };
  const std::uint8_t black[3] = {0, 0, 0}, grey[3] = {200, 200, 200};
  for (float g : {-1.0f, 0.0f, 1.0f}) line(left, ypix(g), right, ypix(g), grey, g == 0.0f ? 0 : 4);
  for (std::size_t s = chunk; chunk > 0 && s < steps; s += chunk) line(xpix(s), top, xpix(s), bottom, grey, 3);
  line(left, top, left, bottom, black);
  line(left, bottom, right, bottom, black);
  for (std::size_t s = 0; s < steps; ++s) line(xpix(s), bottom, xpix(s), bottom + 4, black);
  static const std::uint8_t palette[16][3] = {
      {31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},  {148, 103, 189}, {140, 86, 75},
      {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}, {0, 0, 128},     {128, 0, 0},
      {0, 128, 0},    {255, 0, 255},  {0, 0, 0},      {255, 215, 0}};
  const std::size_t dims = steps ? rows[0].size() : 0;
  for (std::size_t d = 0; d < dims; ++d)
    for (std::size_t s = 1; s < steps; ++s)
      line(xpix(s - 1), ypix(rows[s - 1][d]), xpix(s), ypix(rows[s][d]), palette[d % 16]);
  return img;
}

}  // namespace wma::pipeline
