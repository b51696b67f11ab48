// Plots of per-step vectors (predicted actions and states) that a person can read: a title, the step axis and
// the value axis with ticks, one colour per joint with a legend, iteration boundaries. Drawn once as an
// io::Drawing, which EpisodeWriter writes as PNG and SVG. Upstream makes no plots; these are ours.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/drawing.h"

namespace wma::pipeline {

struct TrajectoryPlot {
  std::string title;
  std::string value_label;               // the vertical axis
  std::vector<std::string> names;        // legend, one per dim; dims without one read "joint k"
  std::vector<std::vector<float>> rows;  // [step][dim]
  std::int64_t first_step = 0;           // the episode step of rows[0]
  int steps_per_iteration = 0;           // > 0: an iteration starts every that many rows (marked, labelled)
  int first_iteration = 0;               // the iteration rows[0] belongs to
};

io::Drawing draw_trajectories(const TrajectoryPlot& plot);

// What the plots call a dataset and its vectors.
struct TrajectoryLabels {
  std::string dataset;                                               // in every title
  std::vector<std::string> action_names, state_names;                // legend entries
  std::string action_quantity = "action", state_quantity = "state";  // vertical axis
};

// From upstream's example-data layout: joint names from `transitions/<dataset>/meta_data/info.json` where it
// has LeRobot's `features.<action|observation.state>.names` (a list, or an object holding one), the
// quantities from the `.h5`'s `action_type` / `state_type` attributes (upstream's data: "joint position").
TrajectoryLabels read_trajectory_labels(const std::string& prompt_dir, const std::string& dataset,
                                        const std::string& transition_path);

}  // namespace wma::pipeline
