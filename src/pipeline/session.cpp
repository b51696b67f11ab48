// Episode/frame-stride driver of upstream's run_inference (world_model_interaction.py L494-673).
#include "pipeline/session.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "io/json.h"
#include "ops/device.h"
#include "pipeline/outputs.h"

namespace wma::pipeline {

nn::LoadOptions select_device(const std::string& device, const std::string& precision) {
  nn::LoadOptions o;
  if (precision == "fp32") o.dtype = DType::F32;
  else if (precision == "fp16") o.dtype = DType::F16;
  else if (precision == "bf16") o.dtype = DType::BF16;
  else fail("[device] unknown --precision '", precision, "' (fp32, fp16 or bf16)");
  if (device == "cpu") {
    WMA_CHECK(o.dtype == DType::F32, "[device] the CPU backend computes in fp32 only; --precision ", precision,
              " needs --device cuda");
    o.device = Device::CPU;
  } else if (device == "cuda") {
    ops::init_device(Device::CUDA);
    o.device = Device::CUDA;
  } else {
    fail("[device] unknown --device '", device, "' (cpu or cuda)");
  }
  return o;
}

GpuGeometry gpu_geometry(Device device) {
  if (device != Device::CUDA) return {};
  return {ops::sm_count(device), ops::max_threads_per_sm(device)};
}

void synchronize_device(Device device) { ops::synchronize(device); }

Profiler device_profiler(Device device) {
  Profiler profiler([device] { synchronize_device(device); });
  if (device == Device::CUDA)
    profiler.track_gpu_memory([device] {
      const ops::DeviceMemoryStats m = ops::memory_stats(device);
      return Profiler::GpuMemoryReading{m.allocated_bytes, m.peak_allocated_bytes};
    });
  return profiler;
}

std::vector<std::string> run_session(Synthesizer& synth, const std::vector<EpisodeJob>& episodes,
                                     const SessionSettings& settings, NoiseSource& noise, Profiler& profiler) {
  std::vector<std::string> written;
  // Declared after `written`, which its jobs append to: destroyed first, so no job outlives it.
  BackgroundWriter background(settings.background_writes);
  for (const EpisodeJob& job : episodes)
    for (const std::int64_t fs : settings.frame_strides) {
      InteractionOptions loop = settings.loop;
      // Python's float // int: floor division of the csv fps (30.0 // 4 = 7.0, fed as int64).
      loop.model_fs = static_cast<std::int64_t>(std::floor(job.ori_fps / static_cast<double>(fs)));
      // Only the writer thread touches it once constructed (which makes the folders here, in line).
      auto writer =
          std::make_shared<EpisodeWriter>(settings.savedir, job.videoid, fs, settings.save_fps, loop.exe_steps,
                                          job.start.action_dim, job.start.state_dim, job.stats, job.labels);
      run_interaction(synth, job.start, loop, noise, &profiler, [&](const IterationResult& r) {
        auto host = std::make_shared<const IterationResult>(on_host(r));
        background.post([writer, host] { writer->write_iteration(*host); });
      });
      background.post([writer, &written] {
        writer->finish();
        written.insert(written.end(), writer->written().begin(), writer->written().end());
      });
    }
  {
    const auto timer = Profiler::scope(&profiler, "save_results");
    background.wait();
  }
  return written;
}

std::string report_profile(const std::string& savedir, const Profiler& profiler) {
  std::printf("\n%s", profiler.table().c_str());
  const std::string path = (std::filesystem::path(savedir) / "profile.json").string();
  write_text_file(path, io::json::dump(profiler.to_json()));
  return path;
}

}  // namespace wma::pipeline
