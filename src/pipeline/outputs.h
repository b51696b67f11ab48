// Results on disk in upstream's layout (scripts/evaluation/world_model_interaction.py L640-673, spec §8.5):
// <savedir>/inference/sample_<videoid>/{dm,wm}/<fs>/itr-<k>.mp4 and <savedir>/inference/<videoid>_full_fs<fs>.mp4;
// plus ours: per-iteration actions/states as JSON and CSV and a PNG plot of the action trajectories.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/png.h"
#include "io/stats.h"
#include "pipeline/interaction.h"
#include "pipeline/profile.h"

namespace wma::pipeline {

class EpisodeWriter {
 public:
  // `stats` (optional) un-normalises actions and states in the JSON/CSV next to the normalised values.
  EpisodeWriter(std::string savedir, std::string videoid, std::int64_t frame_stride, int save_fps, int exe_steps,
                std::int64_t action_dim, std::int64_t state_dim, std::optional<io::NormalizationStats> stats);
  // Writes the iteration's dm/wm videos, actions and states; keeps what the episode outputs need.
  void write_iteration(const IterationResult& result);
  // The whole episode's video (first exe_steps frames of every world-model pass) and the actions plot.
  void finish();
  // Every file written so far.
  const std::vector<std::string>& written() const { return written_; }

 private:
  void write_rows(const std::string& stem, const char* what, const Tensor& normalised, std::int64_t dim,
                  const std::string& stats_key, int iteration);
  std::string savedir_, videoid_, sample_dir_;
  std::int64_t fs_;
  int save_fps_, exe_steps_;
  std::int64_t action_dim_, state_dim_;
  std::optional<io::NormalizationStats> stats_;
  std::vector<io::Rgb8Image> full_video_;
  std::vector<std::vector<float>> action_rows_;  // every iteration's normalised actions, robot dims only
  std::vector<std::string> written_;
};

// Line plot of `rows` (steps x dims, values in about [-1, 1]): axes, grid at 0 and ±1, one colour per dim,
// dashed separators every `chunk` steps.
io::Rgb8Image plot_trajectories(const std::vector<std::vector<float>>& rows, int chunk, int width = 800,
                                int height = 400);

// A pass's video [1, T, H, W, 3] (any device) -> frames via upstream's clamp + truncating uint8.
std::vector<io::Rgb8Image> video_frames(const Tensor& video);

// `text` to `path` through a temporary file and a rename.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace wma::pipeline
