// Output files of the interaction loop: upstream's videos (save_results) and our action/state records.
#include "pipeline/outputs.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/json.h"
#include "io/temp_file.h"
#include "io/video.h"
#include "ops/ops.h"

namespace wma::pipeline {
namespace fs = std::filesystem;

void write_text_file(const std::string& path, const std::string& text) {
  io::TempFile tmp(path);
  {
    std::ofstream f(tmp.path(), std::ios::binary);
    WMA_CHECK(f.good(), "[output] cannot write ", tmp.path());
    f << text;
    f.close();
    WMA_CHECK(f.good(), "[output] writing ", tmp.path(), " failed");
  }
  tmp.commit();
}

IterationResult on_host(const IterationResult& result) {
  auto host = [](const Tensor& t) { return t.defined() ? ops::to_device(t, Device::CPU) : t; };
  auto pass = [&](const PassOutput& p) {
    return PassOutput{host(p.latent), host(p.video), host(p.actions), host(p.states)};
  };
  IterationResult copy;
  copy.index = result.index;
  copy.policy = pass(result.policy);
  copy.world = pass(result.world);
  copy.queue_images = host(result.queue_images);
  copy.queue_states = host(result.queue_states);
  copy.queue_actions = host(result.queue_actions);
  return copy;
}

std::vector<io::Rgb8Image> video_frames(const Tensor& video) {
  const Tensor host = ops::to_device(video, Device::CPU);
  return io::video_to_frames(ops::contiguous(host.select(0, 0).permute({3, 0, 1, 2})));
}

namespace {
// The stats' feature names (upstream's normaliser keys).
const char* const kActionKey = "action";
const char* const kStateKey = "observation.state";

// ",<value>" with float32 round-trip precision.
std::string csv_cell(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, ",%.9g", v);
  return buf;
}
}  // namespace

EpisodeWriter::EpisodeWriter(std::string savedir, std::string videoid, std::int64_t frame_stride, int save_fps,
                             int exe_steps, std::int64_t action_dim, std::int64_t state_dim,
                             std::optional<io::NormalizationStats> stats, TrajectoryLabels labels)
    : savedir_(std::move(savedir)),
      videoid_(std::move(videoid)),
      fs_(frame_stride),
      save_fps_(save_fps),
      exe_steps_(exe_steps),
      action_dim_(action_dim),
      state_dim_(state_dim),
      stats_(std::move(stats)),
      labels_(std::move(labels)) {
  sample_dir_ = (fs::path(savedir_) / "inference" / ("sample_" + videoid_)).string();
  for (const char* kind : {"dm", "wm"}) fs::create_directories(fs::path(sample_dir_) / kind / std::to_string(fs_));
  fs::create_directories(fs::path(savedir_) / "inference");
}

std::vector<std::vector<float>> EpisodeWriter::write_rows(const std::string& stem, const char* what,
                                                          const Tensor& normalised, std::int64_t dim,
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
  const std::vector<float>& plotted = raw ? *raw : own;
  std::vector<std::vector<float>> plot_rows;
  for (std::int64_t s = 0; s < steps; ++s)
    plot_rows.emplace_back(plotted.begin() + s * dim, plotted.begin() + (s + 1) * dim);
  return plot_rows;
}

void EpisodeWriter::write_plot(const std::string& stem, const TrajectoryPlot& plot) {
  const io::Drawing drawing = draw_trajectories(plot);
  io::write_png(stem + ".png", drawing.rasterize());
  write_text_file(stem + ".svg", drawing.svg());
  written_.push_back(stem + ".png");
  written_.push_back(stem + ".svg");
}

TrajectoryPlot EpisodeWriter::plot_of(Series series, const std::string& what,
                                      std::vector<std::vector<float>> rows) const {
  const bool actions = series == Series::Actions;
  const bool raw = stats_ && stats_->has(actions ? kActionKey : kStateKey);
  TrajectoryPlot p;
  p.title = (labels_.dataset.empty() ? "" : labels_.dataset + ", ") + "episode " + videoid_ + " (fs " +
            std::to_string(fs_) + "), " + what;
  p.value_label = (actions ? labels_.action_quantity : labels_.state_quantity) +
                  (raw ? " (un-normalised)" : " (normalised, -1 to 1)");
  p.names = actions ? labels_.action_names : labels_.state_names;
  p.rows = std::move(rows);
  return p;
}

void EpisodeWriter::write_iteration(const IterationResult& r) {
  const std::string fs = std::to_string(fs_), itr = "itr-" + std::to_string(r.index);
  const io::VideoOptions options{save_fps_, 10};
  const fs::path dm = fs::path(sample_dir_) / "dm" / fs, wm = fs::path(sample_dir_) / "wm" / fs;
  written_.push_back(io::write_video((dm / (itr + ".mp4")).string(), video_frames(r.policy.video), options));
  const std::vector<io::Rgb8Image> world = video_frames(r.world.video);
  written_.push_back(io::write_video((wm / (itr + ".mp4")).string(), world, options));
  full_video_.insert(full_video_.end(), world.begin(), world.begin() + std::min<std::size_t>(exe_steps_, world.size()));

  std::vector<std::vector<float>> actions =
      write_rows((dm / (itr + "_actions")).string(), "actions", r.policy.actions, action_dim_, kActionKey, r.index);
  std::vector<std::vector<float>> states =
      write_rows((wm / (itr + "_states")).string(), "states", r.world.states, state_dim_, kStateKey, r.index);
  if (first_iteration_ < 0) first_iteration_ = r.index;
  last_iteration_ = r.index;
  executed_per_iteration_ =
      static_cast<int>(std::min<std::size_t>({static_cast<std::size_t>(exe_steps_), actions.size(), states.size()}));
  executed_actions_.insert(executed_actions_.end(), actions.begin(), actions.begin() + executed_per_iteration_);
  executed_states_.insert(executed_states_.end(), states.begin(), states.begin() + executed_per_iteration_);
  const std::string iteration = "iteration " + std::to_string(r.index);
  TrajectoryPlot action_plot = plot_of(Series::Actions, iteration + ": predicted actions", std::move(actions));
  action_plot.first_step = static_cast<std::int64_t>(r.index) * exe_steps_;  // the steps executed before it
  write_plot((dm / (itr + "_actions")).string(), action_plot);
  TrajectoryPlot state_plot = plot_of(Series::States, iteration + ": predicted states", std::move(states));
  state_plot.first_step = action_plot.first_step;
  write_plot((wm / (itr + "_states")).string(), state_plot);
}

void EpisodeWriter::finish() {
  const fs::path inference = fs::path(savedir_) / "inference";
  if (!full_video_.empty())
    written_.push_back(io::write_video((inference / (videoid_ + "_full_fs" + std::to_string(fs_) + ".mp4")).string(),
                                       full_video_, io::VideoOptions{save_fps_, 10}));
  if (executed_actions_.empty()) return;
  const std::string suffix = "_fs" + std::to_string(fs_);
  const std::string iterations =
      "iterations " + std::to_string(first_iteration_) + "-" + std::to_string(last_iteration_);
  for (const Series series : {Series::Actions, Series::States}) {
    const bool actions = series == Series::Actions;
    TrajectoryPlot plot = plot_of(series, iterations + (actions ? ": executed actions" : ": predicted states"),
                                  actions ? executed_actions_ : executed_states_);
    plot.first_step = static_cast<std::int64_t>(first_iteration_) * exe_steps_;
    plot.steps_per_iteration = executed_per_iteration_;
    plot.first_iteration = first_iteration_;
    write_plot((inference / (videoid_ + (actions ? "_actions" : "_states") + suffix)).string(), plot);
  }
}

}  // namespace wma::pipeline
