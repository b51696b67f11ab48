#include "io/video.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/log.h"
#include "io/temp_file.h"

#if WMA_WITH_LIBAV
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}
#endif

namespace wma::io {

std::vector<Rgb8Image> video_to_frames(const Tensor& video) {
  WMA_CHECK(video.dim() == 4 && video.size(0) == 3, "[video] expected [3, T, H, W], got ", video.describe());
  const std::int64_t t = video.size(1), h = video.size(2), w = video.size(3);
  const std::vector<float> v = video.to_floats();
  std::vector<Rgb8Image> frames(static_cast<std::size_t>(t));
  for (std::int64_t f = 0; f < t; ++f) {
    Rgb8Image& img = frames[f];
    img.width = static_cast<int>(w);
    img.height = static_cast<int>(h);
    img.pixels.resize(static_cast<std::size_t>(h * w * 3));
    for (std::int64_t c = 0; c < 3; ++c)
      for (std::int64_t i = 0; i < h * w; ++i) {
        const float x = std::clamp(v[((c * t + f) * h * w) + i], -1.0f, 1.0f);
        img.pixels[i * 3 + c] = static_cast<std::uint8_t>((x + 1.0f) / 2.0f * 255.0f);
      }
  }
  return frames;
}

namespace {

std::string write_png_frames(const std::string& path, const std::vector<Rgb8Image>& frames) {
  std::string dir = path;
  if (dir.size() > 4 && dir.compare(dir.size() - 4, 4, ".mp4") == 0) dir.resize(dir.size() - 4);
  dir += "_frames";
  const std::string tmp = dir + ".tmp";
  std::filesystem::remove_all(tmp);
  std::filesystem::create_directories(tmp);
  try {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "/%04zu.png", i);
      write_png(tmp + name, frames[i]);
    }
  } catch (...) {
    std::filesystem::remove_all(tmp);
    throw;
  }
  std::filesystem::remove_all(dir);
  std::filesystem::rename(tmp, dir);
  return dir;
}

#if WMA_WITH_LIBAV

std::string av_error(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

// Owns the libav objects of one encode and frees them in every exit path.
struct Mp4Encoder {
  AVFormatContext* format = nullptr;
  AVCodecContext* codec = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* packet = nullptr;
  SwsContext* sws = nullptr;
  AVStream* stream = nullptr;

  ~Mp4Encoder() {
    sws_freeContext(sws);
    av_packet_free(&packet);
    av_frame_free(&frame);
    avcodec_free_context(&codec);
    if (format != nullptr) {
      if (format->pb != nullptr) avio_closep(&format->pb);
      avformat_free_context(format);
    }
  }

  void drain(const std::string& path) {
    for (;;) {
      const int r = avcodec_receive_packet(codec, packet);
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return;
      WMA_CHECK(r >= 0, "[video] ", path, ": encoding failed: ", av_error(r));
      // Without a duration the muxer gives the last frame none and players drop it.
      if (packet->duration == 0) packet->duration = 1;
      av_packet_rescale_ts(packet, codec->time_base, stream->time_base);
      packet->stream_index = stream->index;
      const int w = av_interleaved_write_frame(format, packet);
      WMA_CHECK(w >= 0, "[video] ", path, ": write failed: ", av_error(w));
    }
  }
};

void encode_mp4(const std::string& tmp, const std::string& path, const std::vector<Rgb8Image>& frames,
                const VideoOptions& options) {
  av_log_set_level(AV_LOG_ERROR);
  const AVCodec* h264 = avcodec_find_encoder_by_name("libx264");
  WMA_CHECK(h264 != nullptr, "[video] libav has no libx264 encoder");
  const int width = frames.front().width, height = frames.front().height;
  WMA_CHECK(width % 2 == 0 && height % 2 == 0, "[video] ", path, ": yuv420p needs even sizes, got ", width, "x",
            height);
  Mp4Encoder e;
  int r = avformat_alloc_output_context2(&e.format, nullptr, "mp4", tmp.c_str());
  WMA_CHECK(r >= 0 && e.format != nullptr, "[video] ", path, ": cannot create mp4 container: ", av_error(r));
  e.stream = avformat_new_stream(e.format, nullptr);
  e.codec = avcodec_alloc_context3(h264);
  e.codec->width = width;
  e.codec->height = height;
  e.codec->pix_fmt = AV_PIX_FMT_YUV420P;
  e.codec->time_base = AVRational{1, options.fps};
  e.codec->framerate = AVRational{options.fps, 1};
  if (e.format->oformat->flags & AVFMT_GLOBALHEADER) e.codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  av_opt_set(e.codec->priv_data, "crf", std::to_string(options.crf).c_str(), 0);
  // One encoder thread: with x264's frame threads the demo's episode video came out different from run to run
  // (same frames in, other bytes out); one thread made it repeatable, and videos are encoded off the critical
  // path (pipeline/background_writer.h).
  e.codec->thread_count = 1;
  r = avcodec_open2(e.codec, h264, nullptr);
  WMA_CHECK(r >= 0, "[video] ", path, ": cannot open the H.264 encoder: ", av_error(r));
  avcodec_parameters_from_context(e.stream->codecpar, e.codec);
  e.stream->time_base = e.codec->time_base;
  r = avio_open(&e.format->pb, tmp.c_str(), AVIO_FLAG_WRITE);
  WMA_CHECK(r >= 0, "[video] cannot open ", tmp, " for writing: ", av_error(r));
  r = avformat_write_header(e.format, nullptr);
  WMA_CHECK(r >= 0, "[video] ", path, ": cannot write the mp4 header: ", av_error(r));
  e.frame = av_frame_alloc();
  e.frame->format = AV_PIX_FMT_YUV420P;
  e.frame->width = width;
  e.frame->height = height;
  WMA_CHECK(av_frame_get_buffer(e.frame, 0) >= 0, "[video] out of memory");
  e.packet = av_packet_alloc();
  e.sws = sws_getContext(width, height, AV_PIX_FMT_RGB24, width, height, AV_PIX_FMT_YUV420P, SWS_BICUBIC, nullptr,
                         nullptr, nullptr);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    WMA_CHECK(frames[i].width == width && frames[i].height == height, "[video] ", path, ": frame ", i,
              " has a different size");
    WMA_CHECK(av_frame_make_writable(e.frame) >= 0, "[video] frame not writable");
    const std::uint8_t* src[1] = {frames[i].pixels.data()};
    const int stride[1] = {3 * width};
    sws_scale(e.sws, src, stride, 0, height, e.frame->data, e.frame->linesize);
    e.frame->pts = static_cast<std::int64_t>(i);
    r = avcodec_send_frame(e.codec, e.frame);
    WMA_CHECK(r >= 0, "[video] ", path, ": encoding failed: ", av_error(r));
    e.drain(path);
  }
  avcodec_send_frame(e.codec, nullptr);
  e.drain(path);
  r = av_write_trailer(e.format);
  WMA_CHECK(r >= 0, "[video] ", path, ": cannot finish the mp4: ", av_error(r));
}

#endif

}  // namespace

bool mp4_available() {
#if WMA_WITH_LIBAV
  return avcodec_find_encoder_by_name("libx264") != nullptr;
#else
  return false;
#endif
}

std::string write_video(const std::string& path, const std::vector<Rgb8Image>& frames, const VideoOptions& options) {
  WMA_CHECK(!frames.empty(), "[video] ", path, ": no frames");
  WMA_CHECK(options.fps > 0, "[video] ", path, ": fps must be positive");
  if (!mp4_available()) {
    const std::string dir = write_png_frames(path, frames);
    log_warn("no H.264 encoder in this build (libav/libx264 missing): wrote PNG frames to ", dir);
    return dir;
  }
#if WMA_WITH_LIBAV
  TempFile tmp(path);
  encode_mp4(tmp.path(), path, frames, options);
  tmp.commit();
#endif
  return path;
}

}  // namespace wma::io
