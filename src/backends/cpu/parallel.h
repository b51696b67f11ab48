// A minimal fork-join helper for the CPU reference: splits [0, n) into contiguous chunks,
// one per thread (2 by default, WMA_THREADS overrides). Small jobs stay on the calling thread.
#pragma once

#include <cstdint>
#include <functional>

namespace wma::cpu {

// Number of threads parallel_for may use (WMA_THREADS, else 2).
int thread_count();

// Runs fn(begin, end) over chunks of [0, n). `cost_per_item` is a rough operation count per
// item; work below ~64k operations in total runs serially, since spawning a thread costs more.
// A parallel_for inside another one runs serially.
void parallel_for(std::int64_t n, std::int64_t cost_per_item,
                  const std::function<void(std::int64_t begin, std::int64_t end)>& fn);

}  // namespace wma::cpu
