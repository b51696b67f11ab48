// std::thread fork-join for the CPU backend. Threads are spawned per call: the reference
// backend favours simplicity, and the ops it parallelises are large enough to amortise this.
#include "backends/cpu/parallel.h"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <thread>
#include <vector>

namespace wma::cpu {

namespace {

constexpr std::int64_t kMinParallelCost = 1 << 16;
thread_local bool t_inside_parallel = false;

int read_thread_count() {
  if (const char* env = std::getenv("WMA_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
  return 2;
}

}  // namespace

int thread_count() {
  static const int n = read_thread_count();
  return n;
}

void parallel_for(std::int64_t n, std::int64_t cost_per_item,
                  const std::function<void(std::int64_t, std::int64_t)>& fn) {
  if (n <= 0) return;
  const std::int64_t total = n * std::max<std::int64_t>(cost_per_item, 1);
  const std::int64_t chunks =
      t_inside_parallel
          ? 1
          : std::min<std::int64_t>({thread_count(), n, std::max<std::int64_t>(total / kMinParallelCost, 1)});
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(chunks));
  auto run_chunk = [&](std::int64_t c) {
    t_inside_parallel = true;
    try {
      fn(n * c / chunks, n * (c + 1) / chunks);
    } catch (...) {
      errors[static_cast<std::size_t>(c)] = std::current_exception();
    }
    t_inside_parallel = false;
  };
  std::vector<std::thread> workers;
  workers.reserve(static_cast<std::size_t>(chunks - 1));
  for (std::int64_t c = 1; c < chunks; ++c) workers.emplace_back(run_chunk, c);
  run_chunk(0);
  for (auto& w : workers) w.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace wma::cpu
