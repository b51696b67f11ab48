// What `wma interact` and `wma demo` share: device/precision selection, running the interaction loop over
// the episodes of a prompt list with upstream's per-fs output layout (world_model_interaction.py L494-673),
// and the profile table.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "io/stats.h"
#include "nn/weights.h"
#include "pipeline/background_writer.h"
#include "pipeline/interaction.h"
#include "pipeline/noise.h"
#include "pipeline/profile.h"
#include "pipeline/trajectory_plot.h"

namespace wma::pipeline {

// "cpu" | "cuda" and "fp32" | "fp16" | "bf16"; initialises the CUDA backend when asked for. The CPU backend
// is f32 only, so another precision there is an error.
nn::LoadOptions select_device(const std::string& device, const std::string& precision);
// Waits for queued device work (for honest section timings); nothing on the CPU.
void synchronize_device(Device device);
// A profiler whose sections wait for `device` and, on CUDA, read the allocator's GPU memory at their end.
Profiler device_profiler(Device device);
// What torch's CUDA generator layout depends on: the GPU's geometry on CUDA, else an H100's/H200's.
GpuGeometry gpu_geometry(Device device);

struct EpisodeJob {
  std::string videoid;
  double ori_fps = 30.0;
  EpisodeStart start;
  std::optional<io::NormalizationStats> stats;
  TrajectoryLabels labels;  // for the plots
};

struct SessionSettings {
  std::string savedir;
  std::vector<std::int64_t> frame_strides = {4};
  int save_fps = 8;
  InteractionOptions loop;  // model_fs is derived per episode
  // Outputs encoded and written by a writer thread while the next pass runs (pipeline/background_writer.h);
  // WMA_BACKGROUND_WRITES=0 writes them in line.
  bool background_writes = BackgroundWriter::enabled_by_environment();
};

// For each episode and frame stride: the loop, writing every iteration's outputs as it goes (on the writer
// thread with background_writes; every file is complete when this returns). Returns the files written.
std::vector<std::string> run_session(Synthesizer& synthesizer, const std::vector<EpisodeJob>& episodes,
                                     const SessionSettings& settings, NoiseSource& noise, Profiler& profiler);

// Prints the table on stdout and writes <savedir>/profile.json; returns the JSON path.
std::string report_profile(const std::string& savedir, const Profiler& profiler);

}  // namespace wma::pipeline
