#include "core/allocator.h"

#include <cstdlib>
#include <new>

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

}  // namespace wma
