// Example-data loading of upstream's interaction script (world_model_interaction.py L186-249, L494-553).
#include "pipeline/example_data.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "io/csv.h"
#include "io/h5.h"
#include "io/image_read.h"
#include "pipeline/image_preprocess.h"

namespace wma::pipeline {
namespace fs = std::filesystem;

namespace {

bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

// Keeps an error message on one line whatever the csv holds.
std::string escaped(const std::string& s) {
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (is_control(c)) out += str_cat("\\x", "0123456789abcdef"[u >> 4], "0123456789abcdef"[u & 15]);
    else out += c;
  }
  return out;
}

// A videoid becomes a file and folder name under --savedir (outputs.h), so it must stay one plain path
// component: `../../x` or `a/b` would write outside it.
void check_file_id(const std::string& id, const std::string& csv, std::size_t row) {
  const bool separator = id.find_first_of("/\\") != std::string::npos;
  const bool control = std::any_of(id.begin(), id.end(), is_control);
  WMA_CHECK(!id.empty() && id != "." && id != ".." && !separator && !control, "[data] ", csv, " row ", row + 1,
            ": videoid '", escaped(id), "' cannot name an output file (it must be non-empty, not '.' or '..', ",
            "and hold no '/', '\\' or control characters)");
}

}  // namespace

std::vector<EpisodeSpec> read_prompt_list(const std::string& prompt_dir, const std::string& dataset) {
  WMA_CHECK(fs::is_directory(prompt_dir), "[data] prompt directory ", prompt_dir, " does not exist");
  const fs::path csv = fs::path(prompt_dir) / (dataset + ".csv");
  WMA_CHECK(fs::exists(csv), "[data] dataset '", dataset, "': ", csv.string(), " does not exist");
  const io::CsvTable table = io::CsvTable::read(csv.string());
  WMA_CHECK(table.rows() > 0, "[data] ", csv.string(), " has no rows");
  std::vector<EpisodeSpec> specs;
  for (std::size_t r = 0; r < table.rows(); ++r) {
    EpisodeSpec s;
    s.videoid = table.at(r, "videoid");
    check_file_id(s.videoid, csv.string(), r);
    s.data_dir = table.at(r, "data_dir");
    s.instruction = table.at(r, "instruction");
    try {
      s.fps = std::stod(table.at(r, "fps"));
    } catch (const std::exception&) {
      fail("[data] ", csv.string(), " row ", r + 1, ": fps '", table.at(r, "fps"), "' is not a number");
    }
    // The model's fs is floor(fps / frame_stride) cast to int64, undefined for NaN, Inf or huge values.
    WMA_CHECK(std::isfinite(s.fps) && s.fps >= 0 && s.fps <= 1e6, "[data] ", csv.string(), " row ", r + 1, ": fps '",
              table.at(r, "fps"), "' is not a finite frame rate in [0, 1e6]");
    s.image_path = (fs::path(prompt_dir) / "images" / s.data_dir / (s.videoid + ".png")).string();
    s.transition_path = (fs::path(prompt_dir) / "transitions" / s.data_dir / (s.videoid + ".h5")).string();
    for (const std::string& file : {s.image_path, s.transition_path})
      WMA_CHECK(fs::exists(file), "[data] ", csv.string(), " row ", r + 1, " names ", file, ", which does not exist");
    specs.push_back(std::move(s));
  }
  return specs;
}

io::NormalizationStats read_dataset_stats(const std::string& prompt_dir, const std::string& dataset) {
  const fs::path path = fs::path(prompt_dir) / "transitions" / dataset / "meta_data" / "stats.safetensors";
  WMA_CHECK(fs::exists(path), "[data] dataset '", dataset, "': normalisation stats ", path.string(), " do not exist");
  io::NormalizationStats stats = io::NormalizationStats::read(path.string());
  stats.at("action");
  stats.at("observation.state");
  return stats;
}

namespace {
Tensor read_transition(const std::string& path, const std::string& key) {
  const std::vector<std::string> keys = io::list_h5_datasets(path);
  WMA_CHECK(std::find(keys.begin(), keys.end(), key) != keys.end(), "[data] ", path, " has no dataset '", key,
            "' (upstream's transitions hold 'action' and 'observation.state')");
  const Tensor t = io::read_h5_dataset(path, key);
  WMA_CHECK(t.dim() == 2 && t.size(0) > 0, "[data] ", path, ": '", key, "' must be [N, D], got ", shape_str(t.shape()));
  // A NaN would otherwise run the whole pass and only fail when the results are written as JSON.
  const std::vector<float> values = t.to_floats();
  const auto bad = std::find_if(values.begin(), values.end(), [](float v) { return !std::isfinite(v); });
  WMA_CHECK(bad == values.end(), "[data] ", path, ": '", key, "'[", (bad - values.begin()) / t.size(1), ", ",
            (bad - values.begin()) % t.size(1), "] (row, column) is ", *bad, "; values must be finite");
  return t;
}
}  // namespace

InitialObservation load_initial_observation(const EpisodeSpec& spec, const io::NormalizationStats& stats,
                                            std::int64_t height, std::int64_t width, std::int64_t frame_stride,
                                            std::int64_t video_length, std::int64_t state_pad,
                                            std::int64_t action_pad) {
  InitialObservation obs;
  const Tensor states = read_transition(spec.transition_path, "observation.state");
  const Tensor actions = read_transition(spec.transition_path, "action");
  obs.state_dim = states.size(1);
  obs.action_dim = actions.size(1);
  WMA_CHECK(obs.state_dim <= state_pad && obs.action_dim <= action_pad, "[data] ", spec.transition_path, ": state dim ",
            obs.state_dim, " / action dim ", obs.action_dim, " exceed the model's ", state_pad, " / ", action_pad);
  WMA_CHECK((video_length - 1) * frame_stride < actions.size(0), "[data] ", spec.transition_path, " has ",
            actions.size(0), " actions; frame stride ", frame_stride, " needs ", (video_length - 1) * frame_stride + 1);
  const io::MinMax& state_stats = stats.at("observation.state");
  WMA_CHECK(static_cast<std::int64_t>(state_stats.min.size()) == obs.state_dim &&
                static_cast<std::int64_t>(stats.at("action").min.size()) == obs.action_dim,
            "[data] ", stats.path(), " has stats for ", state_stats.min.size(), " state / ",
            stats.at("action").min.size(), " action dims, ", spec.transition_path, " has ", obs.state_dim, " / ",
            obs.action_dim);
  const std::vector<float> row = states.select(0, 0).to_floats();
  const std::vector<float> normalised = io::normalize_min_max(row, state_stats);
  obs.state.assign(state_pad, 0.0f);
  std::copy(normalised.begin(), normalised.end(), obs.state.begin());

  const io::Rgb8Image frame = io::read_image(spec.image_path);
  // Resize(short side) would stretch the long side by the aspect ratio (1x16384 to 320x5242880); the same bound as
  // `wma serve`'s --max_aspect_ratio default keeps the resized frame small.
  constexpr int kMaxAspectRatio = 8;
  WMA_CHECK(std::max(frame.width, frame.height) <= kMaxAspectRatio * std::min(frame.width, frame.height), "[data] ",
            spec.image_path, ": image is ", frame.width, "x", frame.height, "; the long side may be at most ",
            kMaxAspectRatio, " times the short side");
  std::vector<float> pixels(frame.pixels.begin(), frame.pixels.end());
  const Tensor chw =
      prepare_observation_image(Tensor::from_floats({frame.height, frame.width, 3}, pixels), height, width);
  obs.image = Tensor::from_floats({height, width, 3}, chw.permute({1, 2, 0}).to_floats());
  return obs;
}

namespace {

// pandas reads an all-integer `videoid` column as int64 and upstream maps it to str: "007" becomes "7".
std::vector<std::string> videoid_strings(const io::CsvTable& table) {
  std::vector<std::string> ids;
  bool all_integers = true;
  for (std::size_t r = 0; r < table.rows(); ++r) {
    const std::string& v = table.at(r, "videoid");
    ids.push_back(v);
    std::size_t used = 0;
    try {
      std::stoll(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    all_integers &= !v.empty() && used == v.size();
  }
  if (all_integers)
    for (std::string& id : ids) id = std::to_string(std::stoll(id));
  return ids;
}

double csv_number(const io::CsvTable& table, std::size_t row, const std::string& column, const std::string& csv) {
  try {
    std::size_t used = 0;
    const std::string& v = table.at(row, column);
    const double x = std::stod(v, &used);
    if (used == v.size() && std::isfinite(x)) return x;
  } catch (const std::exception&) {
  }
  fail("[data] ", csv, " row ", row + 1, ": ", column, " '", table.at(row, column), "' is not a finite number");
}

}  // namespace

std::vector<GenerationSpec> read_generation_prompts(const std::string& prompt_dir, const std::string& savedir) {
  WMA_CHECK(fs::is_directory(prompt_dir), "[data] prompt directory ", prompt_dir, " does not exist");
  // glob.glob per pattern (no hidden files), every list sorted as Python sorts strings.
  auto listing = [&](const std::vector<std::string>& extensions) {
    std::vector<std::string> files;
    for (const std::string& ext : extensions)
      for (const auto& entry : fs::directory_iterator(prompt_dir)) {
        const std::string name = entry.path().filename().string();
        if (name.front() != '.' && name.size() > ext.size() + 1 && name.ends_with("." + ext))
          files.push_back(entry.path().string());
      }
    std::sort(files.begin(), files.end());
    return files;
  };
  const std::vector<std::string> csvs = listing({"csv"});
  WMA_CHECK(!csvs.empty(), "[data] found no prompt file (*.csv) in ", prompt_dir);
  const io::CsvTable table = io::CsvTable::read(csvs.front());
  const std::vector<std::string> ids = videoid_strings(table);
  std::vector<GenerationSpec> specs;
  for (const std::string& path : listing({"jpg", "png", "jpeg", "JPEG", "PNG"})) {
    GenerationSpec s;
    s.filename = fs::path(path).filename().string();
    s.image_path = path;
    const std::string stem = s.filename.substr(0, s.filename.size() - 4);
    if (fs::exists(fs::path(savedir) / (stem + ".mp4"))) continue;
    const auto row = std::find(ids.begin(), ids.end(), stem);
    if (row == ids.end()) continue;
    const std::size_t r = static_cast<std::size_t>(row - ids.begin());
    s.instruction = table.at(r, "instruction");
    s.fps = csv_number(table, r, "fps", csvs.front());
    s.frame_stride = csv_number(table, r, "fs", csvs.front());
    // The model's fs is floor(fps / fs) cast to int64: undefined once the quotient leaves int64's range.
    WMA_CHECK(s.frame_stride > 0 && std::fabs(s.fps / s.frame_stride) <= 1e6, "[data] ", csvs.front(), " row ", r + 1,
              ": fps ", s.fps, " / fs ", s.frame_stride, " is not a frame rate in [-1e6, 1e6] with fs > 0");
    const double num_gen = csv_number(table, r, "num_gen", csvs.front());
    WMA_CHECK(num_gen >= 1 && num_gen < 1e6, "[data] ", csvs.front(), " row ", r + 1, ": num_gen must be at least 1");
    s.num_gen = static_cast<int>(num_gen);
    specs.push_back(std::move(s));
  }
  return specs;
}

}  // namespace wma::pipeline
