// A TensorSource whose tensors are the deterministic test weights (docs/fixtures.md):
// given a listing of keys and shapes, every value is deterministic_weight(key, shape, i).
// It stands in for a checkpoint in tests and in the built-in demo model.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/weight_store.h"
#include "nn/weights.h"

namespace wma::models {

class DeterministicSource : public io::TensorSource {
 public:
  explicit DeterministicSource(std::vector<io::TensorInfo> listing, std::string name = "<deterministic weights>");
  std::string format() const override { return "deterministic weights"; }
  const std::string& path() const override { return name_; }
  const std::vector<io::TensorInfo>& tensors() const override { return listing_; }
  Tensor load(const std::string& name) const override;

 private:
  std::vector<io::TensorInfo> listing_;
  std::unordered_map<std::string, std::size_t> index_;  // key -> position in listing_
  std::string name_;
};

// Runs `build` once against an empty store to learn which keys (and shapes) the module
// asks for, then returns a store of deterministic weights with exactly those keys.
io::WeightStore deterministic_store_for(const std::function<void(const io::WeightStore&)>& build);

}  // namespace wma::models
