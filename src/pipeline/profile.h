// Timing sections and peak memory of a run, printed as a profile table
// (iteration_total, action_generation, world_model_interaction, synthesis/*, save_results, model_loading)
// and written as JSON next to the outputs.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "io/json.h"

namespace wma::pipeline {

class Profiler {
 public:
  // `sync` runs before a section's clock is read (the CUDA backend synchronises there), so queued
  // device work is charged to the section that queued it.
  explicit Profiler(std::function<void()> sync = {}) : sync_(std::move(sync)) {}

  class Section {
   public:
    Section(Profiler* profiler, std::string name);
    ~Section();
    Section(const Section&) = delete;
    Section& operator=(const Section&) = delete;

   private:
    Profiler* profiler_;
    std::string name_;
    std::chrono::steady_clock::time_point start_;
  };
  // Times the enclosing scope; a null profiler times nothing.
  static Section scope(Profiler* profiler, std::string name) { return Section(profiler, std::move(name)); }

  void add(const std::string& name, double seconds);
  // Extra peak-memory readings (e.g. the whole GPU's), shown under the table.
  void set_memory(const std::string& name, std::uint64_t bytes) { memory_[name] = bytes; }
  // A memory reading at one moment (e.g. the host's resident memory once the model is loaded): a table line
  // "<name>: N MiB" and "<name>_bytes" in the JSON's memory.
  void set_reading(const std::string& name, std::uint64_t bytes) { readings_[name] = bytes; }

  // The GPU's allocated memory as the caching allocator counts it: live bytes now and the peak so far.
  struct GpuMemoryReading {
    std::uint64_t allocated = 0, peak_allocated = 0;
  };
  // Read at the end of every section from now on: the table and the JSON show the peak, and the average of the
  // live bytes over those readings.
  void track_gpu_memory(std::function<GpuMemoryReading()> read) { gpu_read_ = std::move(read); }
  // One such reading, for a section recorded with add().
  void sample_gpu_memory();
  // What ran (command, arguments, seed, device, precision, engine version): written as the JSON's "run".
  void set_run(io::json::Object run) { run_ = std::move(run); }

  // Seconds recorded under `name` (0 when never).
  double total(const std::string& name) const {
    const auto it = stats_.find(name);
    return it == stats_.end() ? 0.0 : it->second.total;
  }
  std::string table() const;
  io::json::Value to_json() const;

 private:
  struct Stat {
    std::int64_t count = 0;
    double total = 0;
  };
  std::function<void()> sync_;
  std::vector<std::string> order_;
  std::map<std::string, Stat> stats_;
  std::map<std::string, std::uint64_t> memory_;
  std::map<std::string, std::uint64_t> readings_;
  std::function<GpuMemoryReading()> gpu_read_;
  std::uint64_t gpu_peak_ = 0;
  double gpu_allocated_sum_ = 0;
  std::int64_t gpu_readings_ = 0;
  io::json::Object run_;
};

// Peak resident set size of this process (getrusage), in bytes.
std::uint64_t peak_host_memory_bytes();
// Resident set size of this process now (/proc/self/statm), in bytes; 0 where that cannot be read.
std::uint64_t resident_host_memory_bytes();

// A one-line progress bar on stderr ("label [#####     ] 3/10 1.2s"), redrawn in place on a terminal and
// printed once when done otherwise.
class ProgressBar {
 public:
  ProgressBar(std::string label, int total, bool enabled = true);
  ~ProgressBar();
  void tick();

 private:
  void draw(bool final) const;
  std::string label_;
  int total_, done_ = 0;
  bool enabled_, tty_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace wma::pipeline
