#include "core/allocator.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <map>
#include <mutex>
#include <new>
#include <vector>

#include "core/error.h"

namespace wma {
namespace {

class HeapAllocator : public Allocator {
 public:
  std::shared_ptr<Storage> allocate(std::size_t bytes) override {
    auto storage = std::make_shared<Storage>();
    const std::size_t rounded = (bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
    void* p = rounded == 0 ? nullptr : std::aligned_alloc(kTensorAlignment, rounded);
    WMA_CHECK(rounded == 0 || p != nullptr, "[alloc] out of host memory allocating ", bytes, " bytes");
    storage->data = p;
    storage->bytes = bytes;
    storage->device = Device::CPU;
    storage->owner = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
    return storage;
  }
  Device device() const override { return Device::CPU; }
};

Allocator* g_defaults[2] = {nullptr, nullptr};
thread_local Allocator* t_scoped[2] = {nullptr, nullptr};

}  // namespace

Allocator& current_allocator(Device device) {
  const int i = static_cast<int>(device);
  if (t_scoped[i] != nullptr) return *t_scoped[i];
  if (device == Device::CPU && g_defaults[i] == nullptr) {
    static HeapAllocator heap;
    g_defaults[i] = &heap;
  }
  WMA_CHECK(g_defaults[i] != nullptr, "[alloc] no allocator for device ", device_name(device),
            cuda_compiled() ? " (CUDA backend not initialised)" : " (this build has no CUDA backend)");
  return *g_defaults[i];
}

void register_default_allocator(Device device, Allocator* allocator) {
  g_defaults[static_cast<int>(device)] = allocator;
}

ScopedAllocator::ScopedAllocator(Allocator& allocator) : device_(allocator.device()) {
  previous_ = t_scoped[static_cast<int>(device_)];
  t_scoped[static_cast<int>(device_)] = &allocator;
}

ScopedAllocator::~ScopedAllocator() { t_scoped[static_cast<int>(device_)] = previous_; }

Arena::Arena(Allocator& backing, std::size_t capacity) : block_(backing.allocate(capacity)) {}

std::shared_ptr<Storage> Arena::allocate(std::size_t bytes) {
  const std::size_t rounded = (bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
  WMA_CHECK(used_ + rounded <= block_->bytes, "[arena] out of arena memory: need ", rounded, " more bytes, ",
            block_->bytes - used_, " of ", block_->bytes, " free");
  auto storage = std::make_shared<Storage>();
  storage->data = static_cast<char*>(block_->data) + used_;
  storage->bytes = bytes;
  storage->device = block_->device;
  storage->owner = block_;
  used_ += rounded;
  if (used_ > peak_) peak_ = used_;
  return storage;
}

struct PoolAllocator::State {
  std::mutex mutex;
  std::vector<std::shared_ptr<Storage>> slabs;
  // Free ranges per slab, keyed by offset -> length; neighbours are merged on free.
  std::vector<std::map<std::size_t, std::size_t>> free;
  std::size_t in_use = 0;

  void release(std::size_t slab, std::size_t offset, std::size_t length) {
    std::lock_guard<std::mutex> lock(mutex);
    in_use -= length;
    auto& ranges = free[slab];
    auto next = ranges.lower_bound(offset);
    if (next != ranges.end() && offset + length == next->first) {
      length += next->second;
      next = ranges.erase(next);
    }
    if (next != ranges.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == offset) {
        prev->second += length;
        return;
      }
    }
    ranges.emplace(offset, length);
  }
};

PoolAllocator::PoolAllocator(Allocator& backing, std::size_t slab_bytes)
    : backing_(backing), slab_bytes_(slab_bytes), state_(std::make_shared<State>()) {}

PoolAllocator::~PoolAllocator() = default;

std::shared_ptr<Storage> PoolAllocator::allocate(std::size_t bytes) {
  const std::size_t rounded =
      std::max<std::size_t>(kTensorAlignment, (bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment);
  std::lock_guard<std::mutex> lock(state_->mutex);
  std::size_t slab = 0, offset = 0;
  bool found = false;
  for (std::size_t i = 0; i < state_->free.size() && !found; ++i)
    for (auto it = state_->free[i].begin(); it != state_->free[i].end(); ++it) {
      if (it->second < rounded) continue;
      slab = i, offset = it->first, found = true;
      const std::size_t rest = it->second - rounded;
      state_->free[i].erase(it);
      if (rest > 0) state_->free[i].emplace(offset + rounded, rest);
      break;
    }
  if (!found) {
    WMA_CHECK(!frozen_, "[pool] no free block of ", rounded, " bytes in a frozen pool (", state_->in_use, " of ",
              state_->slabs.size() * slab_bytes_, " bytes in use)");
    state_->slabs.push_back(backing_.allocate(std::max(slab_bytes_, rounded)));
    state_->free.emplace_back();
    slab = state_->slabs.size() - 1;
    const std::size_t size = state_->slabs.back()->bytes;
    if (size > rounded) state_->free.back().emplace(rounded, size - rounded);
  }
  state_->in_use += rounded;
  auto storage = std::make_shared<Storage>();
  storage->data = static_cast<char*>(state_->slabs[slab]->data) + offset;
  storage->bytes = bytes;
  storage->device = backing_.device();
  std::shared_ptr<State> keep = state_;
  storage->owner = std::shared_ptr<void>(storage->data, [keep, slab, offset, rounded](void*) {
    keep->release(slab, offset, rounded);
  });
  return storage;
}

}  // namespace wma
