// Upstream's example data as the interaction script reads it (scripts/evaluation/world_model_interaction.py
// get_init_frame_path, get_transition_path, prepare_init_input; data/wma_data.py normalizer and get_uni_vec):
// `<prompt_dir>/<dataset>.csv`, `images/<data_dir>/<videoid>.png`, `transitions/<data_dir>/<videoid>.h5`,
// `transitions/<dataset>/meta_data/stats.safetensors`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/stats.h"

namespace wma::pipeline {

// One row of the prompt csv, with the files it names.
struct EpisodeSpec {
  std::string videoid, data_dir, instruction;
  double fps = 30.0;
  std::string image_path, transition_path;
};

// Rows of `<prompt_dir>/<dataset>.csv`; every file a row names must exist. Throws naming what is missing.
std::vector<EpisodeSpec> read_prompt_list(const std::string& prompt_dir, const std::string& dataset);

// `transitions/<dataset>/meta_data/stats.safetensors` (upstream's normaliser), with `action` and
// `observation.state` min/max.
io::NormalizationStats read_dataset_stats(const std::string& prompt_dir, const std::string& dataset);

// The first observation of an episode, ready for the queues.
struct InitialObservation {
  Tensor image;                                // [H, W, 3] f32 in [-1, 1] (Resize + CenterCrop + scaling)
  std::vector<float> state;                    // state row 0, normalised, zero-padded to the model's state dim
  std::int64_t state_dim = 0, action_dim = 0;  // the robot's own dims (before padding)
};

// prepare_init_input with start_idx 0: the first state row (normalised by `stats`, padded to `state_pad`),
// and the action rows 0, fs, ..., (video_length-1)·fs only checked to exist (upstream reads them for their
// width). The .h5 must hold float datasets `action` and `observation.state` [N, D].
InitialObservation load_initial_observation(const EpisodeSpec& spec, const io::NormalizationStats& stats,
                                            std::int64_t height, std::int64_t width, std::int64_t frame_stride,
                                            std::int64_t video_length, std::int64_t state_pad, std::int64_t action_pad);

// One picture of a base-model prompt folder (scripts/evaluation/base_model_inference.py load_data_prompts).
struct GenerationSpec {
  std::string filename;  // e.g. "3.png"; the video is samples/<filename up to its first '.'>.mp4
  std::string image_path;
  std::string instruction;
  double fps = 0.0, frame_stride = 1.0;  // csv columns `fps` and `fs`; the model's fs is fps // fs
  int num_gen = 1;
};

// As upstream: the first `*.csv` of `prompt_dir` (sorted names), then every `*.{jpg,png,jpeg,JPEG,PNG}` in
// sorted order whose name without its last 4 characters is a csv `videoid` (first matching row), skipping those
// with a `<savedir>/<that name>.mp4` (upstream looks there, not in samples/). Throws when there is no csv.
std::vector<GenerationSpec> read_generation_prompts(const std::string& prompt_dir, const std::string& savedir);

}  // namespace wma::pipeline
