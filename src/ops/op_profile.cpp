#include "ops/op_profile.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <vector>

#include "backends/backend.h"

namespace wma::ops {
namespace {

std::atomic<bool> g_enabled{false};
std::mutex g_mutex;
struct Entry {
  long long calls = 0;
  double seconds = 0;
};
std::map<std::string, Entry> g_entries;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void sync_device([[maybe_unused]] Device device) {
#if WMA_WITH_CUDA
  if (device == Device::CUDA) cuda::synchronize();
#endif
}

}  // namespace

void set_op_profiling(bool enabled) { g_enabled = enabled; }
bool op_profiling() { return g_enabled; }

void reset_op_profile() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_entries.clear();
}

std::string op_profile_table() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_entries.empty()) return {};
  std::vector<std::pair<std::string, Entry>> rows(g_entries.begin(), g_entries.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  double total = 0;
  for (const auto& [_, e] : rows) total += e.seconds;
  std::string out;
  char line[160];
  std::snprintf(line, sizeof line, "%-22s %9s %12s %7s\n", "op (synchronised)", "calls", "total (ms)", "share");
  out += line;
  for (const auto& [name, e] : rows) {
    std::snprintf(line, sizeof line, "%-22s %9lld %12.2f %6.1f%%\n", name.c_str(), e.calls, e.seconds * 1e3,
                  100.0 * e.seconds / total);
    out += line;
  }
  return out;
}

namespace detail {

OpTimer::OpTimer(const char* op, Device device) {
  if (!g_enabled || device == Device::CPU) return;
  sync_device(device);
  op_ = op;
  start_ = now_seconds();
}

OpTimer::~OpTimer() {
  if (!op_) return;
  sync_device(Device::CUDA);
  const double elapsed = now_seconds() - start_;
  std::lock_guard<std::mutex> lock(g_mutex);
  Entry& e = g_entries[op_];
  ++e.calls;
  e.seconds += elapsed;
}

}  // namespace detail
}  // namespace wma::ops
