// Profile table and progress bars of the interaction loop (the sections of pipeline/profile.h).
#include "pipeline/profile.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace wma::pipeline {

Profiler::Section::Section(Profiler* profiler, std::string name) : profiler_(profiler), name_(std::move(name)) {
  if (profiler_ && profiler_->sync_) profiler_->sync_();
  start_ = std::chrono::steady_clock::now();
}

Profiler::Section::~Section() {
  if (!profiler_) return;
  if (profiler_->sync_) profiler_->sync_();
  profiler_->add(name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  profiler_->sample_gpu_memory();
}

void Profiler::sample_gpu_memory() {
  if (!gpu_read_) return;
  const GpuMemoryReading r = gpu_read_();
  gpu_peak_ = std::max({gpu_peak_, r.peak_allocated, r.allocated});
  gpu_allocated_sum_ += static_cast<double>(r.allocated);
  ++gpu_readings_;
}

void Profiler::add(const std::string& name, double seconds) {
  auto [it, inserted] = stats_.try_emplace(name);
  if (inserted) order_.push_back(name);
  ++it->second.count;
  it->second.total += seconds;
}

std::string Profiler::table() const {
  std::string out;
  char line[160];
  std::snprintf(line, sizeof line, "%-34s %7s %12s %12s\n", "section", "count", "total (s)", "average (s)");
  out += line;
  out += std::string(68, '-') + "\n";
  for (const std::string& name : order_) {
    const Stat& s = stats_.at(name);
    std::snprintf(line, sizeof line, "%-34s %7lld %12.3f %12.4f\n", name.c_str(), static_cast<long long>(s.count),
                  s.total, s.total / static_cast<double>(s.count));
    out += line;
  }
  std::snprintf(line, sizeof line, "peak host memory: %.1f MiB\n", peak_host_memory_bytes() / 1048576.0);
  out += line;
  if (gpu_readings_ > 0) {
    std::snprintf(line, sizeof line, "peak gpu allocated: %.1f MiB\naverage gpu allocated: %.1f MiB\n",
                  gpu_peak_ / 1048576.0, gpu_allocated_sum_ / static_cast<double>(gpu_readings_) / 1048576.0);
    out += line;
  }
  for (const auto& [name, bytes] : memory_) {
    std::snprintf(line, sizeof line, "peak %s: %.1f MiB\n", name.c_str(), bytes / 1048576.0);
    out += line;
  }
  for (const auto& [name, bytes] : readings_) {
    std::snprintf(line, sizeof line, "%s: %.1f MiB\n", name.c_str(), bytes / 1048576.0);
    out += line;
  }
  return out;
}

io::json::Value Profiler::to_json() const {
  io::json::Object sections;
  for (const std::string& name : order_) {
    const Stat& s = stats_.at(name);
    sections.emplace_back(name, io::json::Object{{"count", s.count},
                                                 {"total_s", s.total},
                                                 {"average_s", s.total / static_cast<double>(s.count)}});
  }
  io::json::Object memory{{"peak_host_bytes", static_cast<std::int64_t>(peak_host_memory_bytes())}};
  if (gpu_readings_ > 0) {
    memory.emplace_back("peak_gpu_allocated_bytes", static_cast<std::int64_t>(gpu_peak_));
    memory.emplace_back("average_gpu_allocated_bytes",
                        static_cast<std::int64_t>(gpu_allocated_sum_ / static_cast<double>(gpu_readings_)));
  }
  for (const auto& [name, bytes] : memory_)
    memory.emplace_back("peak_" + name + "_bytes", static_cast<std::int64_t>(bytes));
  for (const auto& [name, bytes] : readings_) memory.emplace_back(name + "_bytes", static_cast<std::int64_t>(bytes));
  io::json::Object doc;
  if (!run_.empty()) doc.emplace_back("run", run_);
  doc.emplace_back("sections", std::move(sections));
  doc.emplace_back("memory", std::move(memory));
  return doc;
}

std::uint64_t peak_host_memory_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

std::uint64_t resident_host_memory_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  const int read = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  if (read != 2) return 0;
  return static_cast<std::uint64_t>(resident) * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

ProgressBar::ProgressBar(std::string label, int total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()) {
  if (enabled_ && tty_) draw(false);
}

ProgressBar::~ProgressBar() {
  if (enabled_ && done_ < total_ && tty_) std::fputc('\n', stderr);
}

void ProgressBar::tick() {
  ++done_;
  if (!enabled_) return;
  if (tty_ || done_ == total_) draw(done_ == total_);
}

void ProgressBar::draw(bool final) const {
  constexpr int kWidth = 24;
  const int filled = total_ > 0 ? done_ * kWidth / total_ : kWidth;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::fprintf(stderr, "%s%s [%s%s] %d/%d %.1fs%s", tty_ ? "\r" : "", label_.c_str(), std::string(filled, '#').c_str(),
               std::string(kWidth - filled, ' ').c_str(), done_, total_, elapsed, final ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace wma::pipeline
