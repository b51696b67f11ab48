#include "pipeline/graph_replay.h"

#include <cstdlib>
#include <cstring>
#include <utility>

#include "core/error.h"
#include "core/log.h"
#include "ops/op_profile.h"

namespace wma::pipeline {

bool cuda_graphs_enabled() {
  const char* env = std::getenv("WMA_CUDA_GRAPHS");
  return (env == nullptr || std::strcmp(env, "0") != 0) && !ops::op_profiling();
}

GraphReplay::GraphReplay(Device device, bool use_graph, std::size_t pool_slab_bytes, std::string what)
    : what_(std::move(what)) {
  if (use_graph && device == Device::CUDA) {
    pool_ = std::make_unique<PoolAllocator>(current_allocator(device), pool_slab_bytes);
  }
}

GraphReplay::~GraphReplay() = default;

void GraphReplay::run(const std::function<void()>& work) {
  if (!pool_) {
    work();
    return;
  }
  if (replaying_) {
    graph_.launch();
    return;
  }
  ScopedAllocator scope(*pool_);
  if (++runs_ == 1 || capture_failed_) {
    work();
    return;
  }
  try {
    pool_->set_frozen(true);
    graph_.begin_capture();
    work();
    graph_.end_capture();
    pool_->set_frozen(false);
  } catch (const Error& e) {
    graph_.abandon_capture();
    pool_->set_frozen(false);
    log_warn("[", what_, "] CUDA graph capture failed, running it eagerly from now on: ", e.what());
    capture_failed_ = true;
    work();
    return;
  }
  replaying_ = true;
  graph_.launch();
}

}  // namespace wma::pipeline
