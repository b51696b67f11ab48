// `wma generate` (app/cmd_generate.cpp) on a prompt folder laid out like upstream's examples/base_model_prompts:
// one readable mp4 of num_gen chunks per picture the csv names, and clear errors without output otherwise.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "io/png.h"
#include "io/video.h"
#include "pipeline_test_util.h"

namespace wma::pipeline {
namespace {
namespace fs = std::filesystem;

struct RunResult {
  int rc;
  std::string err;
};

std::string capture(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  return out;
}

io::Rgb8Image gradient(int width, int height) {
  io::Rgb8Image image{width, height, {}};
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) image.pixels.push_back(static_cast<std::uint8_t>((x * 3 + y * 2 + c * 80) % 256));
  return image;
}

class GenerateCli : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string id = std::to_string(::getpid());
    prompts_ = fs::temp_directory_path() / ("wma_gen_prompts_" + id);
    savedir_ = fs::temp_directory_path() / ("wma_gen_out_" + id);
    fs::remove_all(prompts_);
    fs::remove_all(savedir_);
    fs::create_directories(prompts_);
    // 0.png: two chunks; 1.png: no csv row (skipped, as upstream does); 2.png: 96x72, resized and cropped.
    io::write_png((prompts_ / "0.png").string(), gradient(80, 60));
    io::write_png((prompts_ / "1.png").string(), gradient(64, 64));
    io::write_png((prompts_ / "2.png").string(), gradient(96, 72));
    std::ofstream(prompts_ / "prompts.csv") << "videoid,instruction,fps,start_idx,fs,num_gen\n"
                                               "0,wash the pan,16.0,0.0,2.0,2.0\n"
                                               "2,close top drawer,3.0,0.0,2.0,1.0\n";
  }
  void TearDown() override {
    fs::remove_all(prompts_);
    fs::remove_all(savedir_);
  }
  RunResult generate(const std::string& config, const std::string& extra = "") const {
    const char* bin = std::getenv("WMA_BINARY");
    const fs::path log = fs::temp_directory_path() / ("wma_gen_" + std::to_string(::getpid()) + ".log");
    const std::string cmd = std::string(bin ? bin : "wma") + " generate --config " + config + " --prompt_dir " +
                            prompts_.string() + " --savedir " + savedir_.string() +
                            " --height 64 --width 64 --ddim_steps 1 --timestep_spacing uniform_trailing --text_input"
                            " --perframe_ae --demo_weights --quiet --clip_vocab " +
                            test::demo_vocab_file().string() + " " + extra + " > /dev/null 2> " + log.string();
    const int rc = std::system(cmd.c_str());
    std::ifstream f(log);
    std::string err((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    fs::remove(log);
    return {rc, err};
  }
  static std::string base_yaml() { return (test::source_dir() / "tests/fixtures/configs/tiny_base.yaml").string(); }
  fs::path prompts_, savedir_;
};

TEST_F(GenerateCli, WritesOneVideoPerNamedPicture) {
  const RunResult r = generate(base_yaml());
  ASSERT_EQ(r.rc, 0) << r.err;
  const fs::path samples = savedir_ / "samples";
  EXPECT_FALSE(fs::exists(samples / "1.mp4"));
  if (!io::mp4_available()) {
    EXPECT_TRUE(fs::exists(samples / "0_frames/0031.png"));
    EXPECT_TRUE(fs::exists(samples / "2_frames/0015.png"));
    return;
  }
  ASSERT_TRUE(fs::exists(samples / "0.mp4")) << r.err;
  ASSERT_TRUE(fs::exists(samples / "2.mp4")) << r.err;
  if (capture("command -v ffprobe").empty()) GTEST_SKIP() << "ffprobe not installed";
  for (const auto& [name, frames] : {std::pair{"0.mp4", "32"}, std::pair{"2.mp4", "16"}}) {
    const std::string probe = capture("ffprobe -v error -count_frames -select_streams v:0 -show_entries "
                                      "stream=codec_name,width,height,r_frame_rate,nb_read_frames -of csv=p=0 " +
                                      (samples / name).string());
    EXPECT_NE(probe.find(std::string("h264,64,64,8/1,") + frames), std::string::npos) << name << ": " << probe;
  }
}

TEST_F(GenerateCli, RefusesAnInteractionConfigBeforeWriting) {
  const RunResult r = generate(test::tiny_yaml().string());
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("is not a base-model config"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(savedir_));
}

TEST_F(GenerateCli, NeedsAPromptCsvAndPictures) {
  fs::remove(prompts_ / "prompts.csv");
  RunResult r = generate(base_yaml());
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("found no prompt file (*.csv)"), std::string::npos) << r.err;
  std::ofstream(prompts_ / "prompts.csv") << "videoid,instruction,fps,start_idx,fs,num_gen\n3,x,8.0,0.0,2.0,1.0\n";
  std::ofstream(prompts_ / "3.jpg") << "not a picture";
  r = generate(base_yaml());
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("3.jpg: neither a PNG nor a JPEG file"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(savedir_));
}

TEST_F(GenerateCli, ReadsAJpegPrompt) {
  std::ofstream(prompts_ / "prompts.csv") << "videoid,instruction,fps,start_idx,fs,num_gen\n3,x,8.0,0.0,2.0,1.0\n";
  fs::copy_file(test::source_dir() / "tests/data/images/baseline420.jpg", prompts_ / "3.jpg");
  const RunResult r = generate(base_yaml());
#if WMA_WITH_LIBJPEG
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(fs::exists(savedir_ / "samples" / (io::mp4_available() ? "3.mp4" : "3_frames/0015.png"))) << r.err;
#else
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("3.jpg: this build reads no JPEG: it needs libjpeg"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(savedir_));
#endif
}

}  // namespace
}  // namespace wma::pipeline
