#include "models/deterministic_source.h"

#include <memory>

#include "models/deterministic_weights.h"

namespace wma::models {
namespace {

class EmptySource : public io::TensorSource {
 public:
  std::string format() const override { return "empty"; }
  const std::string& path() const override { return name_; }
  const std::vector<io::TensorInfo>& tensors() const override { return none_; }
  Tensor load(const std::string& name) const override { fail("[load] empty store has no key ", name); }

 private:
  std::string name_ = "<key listing>";
  std::vector<io::TensorInfo> none_;
};

}  // namespace

DeterministicSource::DeterministicSource(std::vector<io::TensorInfo> listing, std::string name)
    : listing_(std::move(listing)), name_(std::move(name)) {
  for (std::size_t i = 0; i < listing_.size(); ++i) index_.emplace(listing_[i].name, i);
}

Tensor DeterministicSource::load(const std::string& name) const {
  const auto it = index_.find(name);
  WMA_CHECK(it != index_.end(), "[load] ", name_, ": no key ", name);
  const io::TensorInfo& info = listing_[it->second];
  return deterministic_tensor(info.name, info.shape);
}

io::WeightStore deterministic_store_for(const std::function<void(const io::WeightStore&)>& build) {
  io::WeightStore empty(std::make_unique<EmptySource>());
  std::vector<io::TensorInfo> listing;
  {
    nn::ScopedRequestLog scoped(listing);
    build(empty);
  }
  return io::WeightStore(std::make_unique<DeterministicSource>(std::move(listing)));
}

}  // namespace wma::models
