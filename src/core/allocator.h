// Storage and the allocators behind it. A tensor's bytes live in a Storage; who frees
// them is decided by the Storage's owner handle (heap block, mmapped file, arena, cudaMalloc).
#pragma once

#include <cstddef>
#include <memory>

#include "core/device.h"

namespace wma {

struct Storage {
  void* data = nullptr;
  std::size_t bytes = 0;
  Device device = Device::CPU;
  std::shared_ptr<void> owner;  // keeps the underlying block alive
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual std::shared_ptr<Storage> allocate(std::size_t bytes) = 0;
  virtual Device device() const = 0;
};

// The allocator new tensors on `device` come from: the innermost ScopedAllocator on this
// thread if any, else the device's default (heap for CPU, cudaMalloc for CUDA).
Allocator& current_allocator(Device device);

// The CUDA backend registers its default allocator here at start-up.
void register_default_allocator(Device device, Allocator* allocator);

class ScopedAllocator {
 public:
  explicit ScopedAllocator(Allocator& allocator);
  ~ScopedAllocator();
  ScopedAllocator(const ScopedAllocator&) = delete;
  ScopedAllocator& operator=(const ScopedAllocator&) = delete;

 private:
  Allocator* previous_;
  Device device_;
};

// Bump allocator over one block taken from a backing allocator at construction. Tensors
// allocated from it must not outlive the next reset(); addresses repeat after each reset,
// which is what lets a CUDA graph replay a captured step.
class Arena : public Allocator {
 public:
  Arena(Allocator& backing, std::size_t capacity);
  std::shared_ptr<Storage> allocate(std::size_t bytes) override;
  Device device() const override { return block_->device; }
  void reset() { used_ = 0; }
  std::size_t used() const { return used_; }
  std::size_t peak() const { return peak_; }
  std::size_t capacity() const { return block_->bytes; }

 private:
  std::shared_ptr<Storage> block_;
  std::size_t used_ = 0;
  std::size_t peak_ = 0;
};

// First-fit sub-allocator with coalescing over slabs taken from a backing allocator; freed blocks are reused.
// Same allocation sequence, same addresses: a CUDA graph captured with this as the current allocator keeps
// pointing at valid, private memory on every replay, as long as the pool only serves that capture (and the
// eager run before it, which grows it to size so that nothing is taken from the backing allocator under
// capture). Live blocks keep their slab alive after the pool itself is gone.
class PoolAllocator : public Allocator {
 public:
  PoolAllocator(Allocator& backing, std::size_t slab_bytes);
  ~PoolAllocator() override;
  PoolAllocator(const PoolAllocator&) = delete;
  PoolAllocator& operator=(const PoolAllocator&) = delete;
  std::shared_ptr<Storage> allocate(std::size_t bytes) override;
  Device device() const override { return backing_.device(); }
  // While frozen, a request that fits no free block throws instead of taking a new slab (under graph capture a
  // new slab would be a graph-owned allocation).
  void set_frozen(bool frozen) { frozen_ = frozen; }

 private:
  struct State;
  Allocator& backing_;
  std::size_t slab_bytes_;
  bool frozen_ = false;
  std::shared_ptr<State> state_;  // shared with live blocks' deleters
};

constexpr std::size_t kTensorAlignment = 256;

}  // namespace wma
