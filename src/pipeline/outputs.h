// Results on disk in upstream's layout (docs/upstream.md#output-files):
// <savedir>/inference/sample_<videoid>/{dm,wm}/<fs>/itr-<k>.mp4 and <savedir>/inference/<videoid>_full_fs<fs>.mp4;
// plus ours: per-iteration actions/states as JSON and CSV, and plots (PNG + SVG) of the actions and states of
// every iteration and of the whole episode.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/png.h"
#include "io/stats.h"
#include "pipeline/interaction.h"
#include "pipeline/profile.h"
#include "pipeline/trajectory_plot.h"

namespace wma::pipeline {

class EpisodeWriter {
 public:
  // `stats` (optional) un-normalises actions and states: in the JSON/CSV next to the normalised values, and in
  // the plots instead of them. `labels` names the dataset and the joints in the plots.
  EpisodeWriter(std::string savedir, std::string videoid, std::int64_t frame_stride, int save_fps, int exe_steps,
                std::int64_t action_dim, std::int64_t state_dim, std::optional<io::NormalizationStats> stats,
                TrajectoryLabels labels);
  // Writes the iteration's dm/wm videos, actions, states and their plots; keeps what the episode outputs need.
  void write_iteration(const IterationResult& result);
  // The whole episode's video and plots: the first exe_steps frames, actions and states of every iteration
  // (what the robot executes).
  void finish();
  // Every file written so far.
  const std::vector<std::string>& written() const { return written_; }

 private:
  // Writes <stem>.json and .csv; returns the rows in the plots' units (un-normalised where stats exist).
  std::vector<std::vector<float>> write_rows(const std::string& stem, const char* what, const Tensor& normalised,
                                             std::int64_t dim, const std::string& stats_key, int iteration);
  // <stem>.png and <stem>.svg.
  void write_plot(const std::string& stem, const TrajectoryPlot& plot);
  enum class Series { Actions, States };
  // Title, axis label and legend of a plot of `series`; `what` ends the title.
  TrajectoryPlot plot_of(Series series, const std::string& what, std::vector<std::vector<float>> rows) const;
  std::string savedir_, videoid_, sample_dir_;
  std::int64_t fs_;
  int save_fps_, exe_steps_;
  std::int64_t action_dim_, state_dim_;
  std::optional<io::NormalizationStats> stats_;
  TrajectoryLabels labels_;
  std::vector<io::Rgb8Image> full_video_;
  int first_iteration_ = -1, last_iteration_ = -1, executed_per_iteration_ = 0;
  std::vector<std::vector<float>> executed_actions_, executed_states_;  // in the plots' units, robot dims only
  std::vector<std::string> written_;
};

// The results with every tensor on the host: what a writer thread may read while the device runs the next
// pass (device memory is the main thread's, and the next pass may reuse it).
IterationResult on_host(const IterationResult& result);

// A pass's video [1, T, H, W, 3] (any device) -> frames via upstream's clamp + truncating uint8.
std::vector<io::Rgb8Image> video_frames(const Tensor& video);

// `text` to `path` through a temporary file and a rename.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace wma::pipeline
