// The process-wide caches of library plans (cuBLASLt matmuls in linear.cu, cuDNN convolutions in conv_cudnn.cu).
// Building a plan queries a heuristic and may time candidates (autotune.h), so each key is built once and its plan
// kept for the life of the process, its library descriptors freed with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace wma::cuda {

// FNV-1a over a key's fields, for the keys' hash().
inline std::size_t hash_fields(std::initializer_list<std::int64_t> fields) {
  std::size_t h = 1469598103934665603ull;
  for (const std::int64_t v : fields) h = (h ^ static_cast<std::size_t>(v)) * 1099511628211ull;
  return h;
}

// Key: equality-comparable with a hash() member. A build that returns null is cached as well, so a shape the
// library rejects costs one query only.
template <typename Key, typename Plan>
class PlanCache {
 public:
  // The plan for key, built by build() (returning std::unique_ptr<Plan>) on the key's first use. The lock is held
  // while building: tuning times candidates on the one engine stream, which concurrent builds would disturb.
  template <typename Build>
  Plan* find_or_build(const Key& key, Build&& build) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = plans_.find(key);
    if (it == plans_.end()) it = plans_.emplace(key, build()).first;
    return it->second.get();
  }

 private:
  struct Hash {
    std::size_t operator()(const Key& k) const { return k.hash(); }
  };
  std::mutex mutex_;
  std::unordered_map<Key, std::unique_ptr<Plan>, Hash> plans_;
};

}  // namespace wma::cuda
