#include "ops/op_profile.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
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
  std::int64_t bytes;
};

bool is_heavy(const std::string& op) {
  for (const char* heavy : {"linear", "matmul", "conv", "attention"})
    if (op.rfind(heavy, 0) == 0) return true;
  return false;
}
std::vector<Record> g_records;

}  // namespace

void set_op_profiling(bool enabled) { g_enabled = enabled; }
bool op_profiling() { return g_enabled; }

ScopedOpTag::ScopedOpTag(const char* tag) : previous_(t_tag) { t_tag = tag; }
ScopedOpTag::~ScopedOpTag() { t_tag = previous_; }

std::string op_profile_table(int denoiser_steps) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_records.empty()) return {};
  struct Entry {
    long long calls = 0;
    double ms = 0;
    double bytes = 0;
  };
  std::map<std::string, Entry> entries;
#if WMA_WITH_CUDA
  for (const Record& r : g_records) {
    Entry& e = entries[r.key];
    ++e.calls;
    e.ms += cuda::elapsed_ms(r.start, r.end);
    e.bytes += static_cast<double>(r.bytes);
  }
  cuda::release_events();
#endif
  g_records.clear();
  std::vector<std::pair<std::string, Entry>> rows(entries.begin(), entries.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
  double total = 0;
  for (const auto& [_, e] : rows) total += e.ms;
  const std::string denoise = "denoise/";
  const double steps = denoiser_steps > 0 ? denoiser_steps : 1;
  std::string out;
  char line[320];
  std::snprintf(line, sizeof line, "%-34s %9s %12s %9s %8s %7s\n", "scope/op (GPU time)", "calls", "total (ms)",
                "ms/step", "GB/s", "share");
  out += line;
  double glue_ms = 0;
  for (const auto& [name, e] : rows) {
    const bool in_step = name.rfind(denoise, 0) == 0;
    char per_step[16] = "", rate[16] = "";
    if (in_step) std::snprintf(per_step, sizeof per_step, "%.3f", e.ms / steps);
    if (e.bytes > 0 && e.ms > 0) std::snprintf(rate, sizeof rate, "%.0f", e.bytes / (e.ms * 1e6));
    if (in_step && !is_heavy(name.substr(denoise.size()))) glue_ms += e.ms;
    std::snprintf(line, sizeof line, "%-34s %9lld %12.2f %9s %8s %6.1f%%\n", name.c_str(), e.calls, e.ms, per_step,
                  rate, 100.0 * e.ms / total);
    out += line;
  }
  std::snprintf(line, sizeof line,
                "denoise glue (all but linear, matmul, conv*, attention*): %.2f ms per step over %d steps\n",
                glue_ms / steps, denoiser_steps);
  out += line;
  return out;
}

namespace detail {

OpTimer::OpTimer([[maybe_unused]] const char* op, [[maybe_unused]] Device device, std::int64_t bytes,
                 [[maybe_unused]] const Tensor* like)
    : bytes_(bytes) {
#if WMA_WITH_CUDA
  if (!g_enabled || device != Device::CUDA) return;
  op_ = op;
  static const bool by_shape = [] {
    const char* env = std::getenv("WMA_OP_PROFILE_SHAPES");
    return env != nullptr && std::string(env) == "1";
  }();
  if (by_shape && like != nullptr) shape_ = " " + shape_str(like->shape());
  start_ = cuda::record_start_event();
#endif
}

OpTimer::~OpTimer() {
#if WMA_WITH_CUDA
  if (!op_) return;
  const int end = cuda::record_event();
  std::lock_guard<std::mutex> lock(g_mutex);
  g_records.push_back({std::string(t_tag) + "/" + op_ + shape_, start_, end, bytes_});
#endif
}

}  // namespace detail
}  // namespace wma::ops
