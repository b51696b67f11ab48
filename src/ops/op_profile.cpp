#include "ops/op_profile.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <vector>

#include "backends/backend.h"

namespace wma::ops {
namespace {

std::atomic<bool> g_enabled{false};
std::mutex g_mutex;
thread_local const char* t_tag = "other";

struct Record {
  std::string key;
  int start, end;
};
std::vector<Record> g_records;

}  // namespace

void set_op_profiling(bool enabled) { g_enabled = enabled; }
bool op_profiling() { return g_enabled; }

ScopedOpTag::ScopedOpTag(const char* tag) : previous_(t_tag) { t_tag = tag; }
ScopedOpTag::~ScopedOpTag() { t_tag = previous_; }

std::string op_profile_table() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_records.empty()) return {};
  struct Entry {
    long long calls = 0;
    double ms = 0;
  };
  std::map<std::string, Entry> entries;
#if WMA_WITH_CUDA
  for (const Record& r : g_records) {
    Entry& e = entries[r.key];
    ++e.calls;
    e.ms += cuda::elapsed_ms(r.start, r.end);
  }
  cuda::release_events();
#endif
  g_records.clear();
  std::vector<std::pair<std::string, Entry>> rows(entries.begin(), entries.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
  double total = 0;
  for (const auto& [_, e] : rows) total += e.ms;
  std::string out;
  char line[200];
  std::snprintf(line, sizeof line, "%-34s %9s %12s %7s\n", "scope/op (GPU time)", "calls", "total (ms)", "share");
  out += line;
  for (const auto& [name, e] : rows) {
    std::snprintf(line, sizeof line, "%-34s %9lld %12.2f %6.1f%%\n", name.c_str(), e.calls, e.ms, 100.0 * e.ms / total);
    out += line;
  }
  return out;
}

namespace detail {

OpTimer::OpTimer([[maybe_unused]] const char* op, [[maybe_unused]] Device device) {
#if WMA_WITH_CUDA
  if (!g_enabled || device != Device::CUDA) return;
  op_ = op;
  start_ = cuda::record_event();
#endif
}

OpTimer::~OpTimer() {
#if WMA_WITH_CUDA
  if (!op_) return;
  const int end = cuda::record_event();
  std::lock_guard<std::mutex> lock(g_mutex);
  g_records.push_back({std::string(t_tag) + "/" + op_, start_, end});
#endif
}

}  // namespace detail
}  // namespace wma::ops
