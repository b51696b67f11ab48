// The action and state plots (pipeline/trajectory_plot.h, written by EpisodeWriter): `wma demo`'s plots are
// small PNGs with their title, axis labels and legend drawn, each next to an SVG with the same texts; on
// upstream's example data the axes are in the dataset's units and the legend takes LeRobot joint names.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "io/png_read.h"
#include "pipeline/example_data.h"
#include "pipeline/outputs.h"
#include "pipeline_test_util.h"

namespace wma::pipeline {
namespace {
namespace fs = std::filesystem;

std::string read_all(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::vector<std::string> svg_texts(const std::string& svg) {
  std::vector<std::string> texts;
  const std::regex text("<text [^>]*>([^<]*)</text>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), text); it != std::sregex_iterator(); ++it)
    texts.push_back((*it)[1]);
  return texts;
}

bool has(const std::vector<std::string>& texts, const std::string& t) {
  return std::find(texts.begin(), texts.end(), t) != texts.end();
}

// Pure black pixels in rows [y0, y1): the plots draw every text in black except the iteration numbers.
int black_pixels(const io::Rgb8Image& img, int y0, int y1) {
  int n = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = 0; x < img.width; ++x) {
      const std::uint8_t* p = &img.pixels[(static_cast<std::size_t>(y) * img.width + x) * 3];
      n += p[0] == 0 && p[1] == 0 && p[2] == 0;
    }
  return n;
}

// `<stem>.png` and `<stem>.svg` of one plot: the PNG under 200 KB with ink in its title band, the SVG of the
// same size with the texts a reader needs. Returns the SVG's texts.
std::vector<std::string> check_plot(const fs::path& stem, const std::string& title) {
  const fs::path png = stem.string() + ".png", svg = stem.string() + ".svg";
  EXPECT_TRUE(fs::exists(png) && fs::exists(svg)) << stem;
  if (!fs::exists(png) || !fs::exists(svg)) return {};
  EXPECT_LT(fs::file_size(png), 200u * 1024) << png;
  const io::Rgb8Image img = io::read_png(png.string());
  const std::string doc = read_all(svg);
  EXPECT_NE(doc.find("width=\"" + std::to_string(img.width) + "\" height=\"" + std::to_string(img.height) + "\""),
            std::string::npos);
  const std::vector<std::string> texts = svg_texts(doc);
  EXPECT_TRUE(has(texts, title)) << stem << ": no title '" << title << "'";
  // The bold title's glyphs: well over 10 pixels for each of its characters.
  EXPECT_GT(black_pixels(img, 0, 40), 10 * static_cast<int>(title.size())) << png;
  EXPECT_TRUE(has(texts, "step"));
  return texts;
}

TEST(TrajectoryPlot, DemoPlotsAreReadable) {
  const fs::path dir = fs::temp_directory_path() / ("wma_plot_demo_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const char* bin = std::getenv("WMA_BINARY");
  const std::string cmd = std::string(bin ? bin : "wma") + " demo --ddim_steps 1 --n_iter 2 --quiet --savedir " +
                          dir.string() + " > /dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const fs::path sample = dir / "inference/sample_0";
  const std::string prefix = "demo (synthetic scene), episode 0 (fs 4), ";
  for (const int k : {0, 1}) {
    const std::string itr = "itr-" + std::to_string(k), iteration = "iteration " + std::to_string(k);
    for (const bool actions : {true, false}) {
      const std::vector<std::string> texts =
          check_plot(sample / (actions ? "dm/4/" : "wm/4/") / (itr + (actions ? "_actions" : "_states")),
                     prefix + iteration + (actions ? ": predicted actions" : ": predicted states"));
      EXPECT_TRUE(has(texts, actions ? "action (normalised, -1 to 1)" : "state (normalised, -1 to 1)"));
      for (int j = 0; j < 7; ++j) EXPECT_TRUE(has(texts, "joint " + std::to_string(j)));
      EXPECT_FALSE(has(texts, "joint 7")) << "the padding dims are not plotted";
      EXPECT_TRUE(has(texts, std::to_string(16 * k))) << "steps count from the episode's start";
    }
  }
  for (const bool actions : {true, false}) {
    const std::vector<std::string> texts =
        check_plot(dir / "inference" / (actions ? "0_actions_fs4" : "0_states_fs4"),
                   prefix + "iterations 0-1: " + (actions ? "executed actions" : "predicted states"));
    EXPECT_TRUE(has(texts, "itr") && has(texts, "0") && has(texts, "1")) << "iterations labelled";
    EXPECT_NE(read_all(dir / "inference" / (actions ? "0_actions_fs4.svg" : "0_states_fs4.svg"))
                  .find("stroke-dasharray"),
              std::string::npos)
        << "the iteration boundary is marked";
  }
  fs::remove_all(dir);
}

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(TrajectoryPlot, NonFiniteValuesLeaveGaps) {
  TrajectoryPlot plot;
  plot.title = "diverged";
  plot.value_label = "action";
  plot.rows = {{0.0f, 1.0f}, {NAN, 2.0f}, {1.0f, INFINITY}, {0.5f, 3.0f}};
  const io::Drawing d = draw_trajectories(plot);
  const std::string svg = d.svg();
  // Joint 0: a dot at step 0, then steps 2-3; joint 1: steps 0-1, then a dot at step 3. Plus a swatch each.
  EXPECT_EQ(count(svg, "stroke=\"#1f77b4\" stroke-width=\"2\""), 2);
  EXPECT_EQ(count(svg, "stroke=\"#ff7f0e\" stroke-width=\"2\""), 2);
  EXPECT_TRUE(has(svg_texts(svg), "joint 1"));
  EXPECT_NO_THROW(d.rasterize());
  plot.rows = {{NAN}};
  EXPECT_NO_THROW(draw_trajectories(plot).rasterize()) << "nothing finite at all";
}

TEST(TrajectoryPlot, DatasetUnitsAndJointNames) {
  const fs::path prompts = test::prompts_dir();
  WMA_REQUIRE_UPSTREAM(prompts / "unitree_z1_stackbox.csv", "examples/world_model_interaction_prompts");
  const std::string h5 = (prompts / "transitions/unitree_z1_stackbox/0.h5").string();
  // Upstream's own data names no joints: the legend falls back to "joint k", the axis to the .h5's attributes.
  const TrajectoryLabels upstream = read_trajectory_labels(prompts.string(), "unitree_z1_stackbox", h5);
  EXPECT_TRUE(upstream.action_names.empty());
  EXPECT_EQ(upstream.action_quantity, "joint position");
  EXPECT_EQ(upstream.state_quantity, "joint position");

  // A LeRobot info.json: names as a list, or under a key.
  const fs::path dir = fs::temp_directory_path() / ("wma_plot_names_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "transitions/set/meta_data");
  std::ofstream(dir / "transitions/set/meta_data/info.json")
      << R"({"fps": 30, "features": {"action": {"dtype": "float32", "shape": [7], "names": )"
      << R"(["waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate", "gripper"]},)"
      << R"( "observation.state": {"shape": [7], "names": {"motors": ["s0", "s1", "s2", "s3", "s4", "s5", "s6"]}}}})";
  const TrajectoryLabels labels = read_trajectory_labels(dir.string(), "set", h5);
  ASSERT_EQ(labels.action_names.size(), 7u);
  EXPECT_EQ(labels.action_names[6], "gripper");
  ASSERT_EQ(labels.state_names.size(), 7u);
  EXPECT_EQ(labels.state_names[2], "s2");

  // One iteration through EpisodeWriter with the dataset's stats: the axis reads in un-normalised units.
  const io::NormalizationStats stats = read_dataset_stats(prompts.string(), "unitree_z1_stackbox");
  EpisodeWriter writer((dir / "out").string(), "0", 4, 8, 16, 7, 7, stats, labels);
  IterationResult r;
  r.index = 0;
  std::vector<float> rows(16 * 16);
  for (int s = 0; s < 16; ++s)
    for (int d = 0; d < 16; ++d) rows[s * 16 + d] = d < 7 ? std::sin(0.3f * s + d) : 0.0f;
  r.policy.actions = Tensor::from_floats({1, 16, 16}, rows);
  r.world.states = Tensor::from_floats({1, 16, 16}, rows);
  r.policy.video = r.world.video = Tensor::zeros({1, 16, 16, 16, 3});
  writer.write_iteration(r);
  const std::vector<std::string> texts = check_plot(dir / "out/inference/sample_0/dm/4/itr-0_actions",
                                                    "set, episode 0 (fs 4), iteration 0: predicted actions");
  EXPECT_TRUE(has(texts, "joint position (un-normalised)"));
  EXPECT_TRUE(has(texts, "gripper"));
  EXPECT_TRUE(has(check_plot(dir / "out/inference/sample_0/wm/4/itr-0_states",
                             "set, episode 0 (fs 4), iteration 0: predicted states"),
                  "s6"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace wma::pipeline
