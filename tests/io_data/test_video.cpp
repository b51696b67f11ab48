// Video and PNG output: real files that ffprobe (when installed) reads back.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "io/video.h"

namespace wma::io {
namespace {

std::string temp_dir() {
  auto dir = std::filesystem::temp_directory_path() / ("wma_video_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  return out;
}

TEST(Video, FramesClampAndTruncateLikeUpstream) {
  // [3, T=1, H=1, W=3]: -2 clamps to 0, 0 -> 127.5 truncates to 127, 1 -> 255.
  Tensor v = Tensor::from_floats({3, 1, 1, 3}, {-2, 0, 1, -2, 0, 1, -2, 0, 1});
  auto frames = video_to_frames(v);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].pixels, (std::vector<std::uint8_t>{0, 0, 0, 127, 127, 127, 255, 255, 255}));
}

TEST(Video, WritesMp4ThatFfprobeReads) {
  std::vector<Rgb8Image> frames(16);
  for (int f = 0; f < 16; ++f) {
    frames[f].width = 64;
    frames[f].height = 40;
    frames[f].pixels.assign(64 * 40 * 3, static_cast<std::uint8_t>(f * 16));
  }
  const std::string path = temp_dir() + "/clip.mp4";
  const std::string written = write_video(path, frames, {.fps = 8, .crf = 10});
  if (!mp4_available()) {
    EXPECT_TRUE(std::filesystem::exists(written + "/0015.png"));
    return;
  }
  ASSERT_EQ(written, path);
  ASSERT_TRUE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp.mp4"));
  if (run("command -v ffprobe").empty()) GTEST_SKIP() << "ffprobe not installed";
  const std::string probe = run("ffprobe -v error -count_frames -select_streams v:0 -show_entries "
                                "stream=codec_name,nb_read_frames,r_frame_rate,width,height -of csv=p=0 " +
                                path);
  EXPECT_NE(probe.find("h264,64,40,8/1,16"), std::string::npos) << probe;
}

TEST(Video, PngHasValidSignatureAndCrc) {
  Rgb8Image img{2, 1, {255, 0, 0, 0, 255, 0}};
  const std::string path = temp_dir() + "/px.png";
  write_png(path, img);
  std::ifstream f(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), {});
  ASSERT_GT(bytes.size(), 8u);
  EXPECT_EQ(std::string(bytes.data() + 1, 3), "PNG");
  const std::uint8_t iend[] = {'I', 'E', 'N', 'D'};
  EXPECT_EQ(crc32(iend, 4), 0xae426082u);
  EXPECT_THROW(write_png(path, Rgb8Image{3, 3, {1, 2}}), Error);
}

}  // namespace
}  // namespace wma::io
