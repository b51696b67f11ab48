#include "nn/weights.h"

#include <chrono>
#include <sstream>

#include "ops/ops.h"

namespace wma::nn {
namespace {

thread_local std::vector<io::TensorInfo>* t_request_sink = nullptr;

}  // namespace

ScopedRequestLog::ScopedRequestLog(std::vector<io::TensorInfo>& sink) : previous_(t_request_sink) {
  t_request_sink = &sink;
}

ScopedRequestLog::~ScopedRequestLog() { t_request_sink = previous_; }

WeightBinder::WeightBinder(const io::WeightStore& store, std::string prefix, LoadOptions options)
    : WeightBinder(store, std::move(prefix), options, std::make_shared<BindLog>()) {}

WeightBinder::WeightBinder(const io::WeightStore& store, std::string prefix, LoadOptions options,
                           std::shared_ptr<BindLog> log)
    : store_(&store), prefix_(std::move(prefix)), options_(options), log_(std::move(log)) {}

WeightBinder WeightBinder::child(const std::string& name) const {
  return WeightBinder(*store_, prefix_ + name + ".", options_, log_);
}

bool WeightBinder::has(const std::string& name) const { return store_->contains(prefix_ + name); }

Tensor WeightBinder::fetch_checked(const std::string& key, const Shape& expected) const {
  if (t_request_sink != nullptr) t_request_sink->push_back({key, DType::F32, expected});
  const io::TensorInfo* info = store_->find(key);
  if (info == nullptr) {
    log_->missing.push_back(key);
    return Tensor();
  }
  log_->used.insert(key);
  if (info->shape != expected) {
    log_->misshaped.push_back(
        str_cat(key, " (expected ", shape_str(expected), ", file has ", shape_str(info->shape), ")"));
    return Tensor();
  }
  return store_->load(key);
}

Tensor WeightBinder::take_host_f32(const std::string& name, const Shape& expected) const {
  const auto start = std::chrono::steady_clock::now();
  Tensor t = fetch_checked(prefix_ + name, expected);
  t = t.defined() ? ops::contiguous(ops::cast(t, dtype_is_float(t.dtype()) ? DType::F32 : t.dtype()))
                  : Tensor::zeros(expected);
  if (options_.timings != nullptr)
    options_.timings->checkpoint_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return t;
}

Tensor WeightBinder::take_permuted(const std::string& name, const Shape& expected, const std::vector<int>& dims) const {
  const auto start = std::chrono::steady_clock::now();
  Tensor t = fetch_checked(prefix_ + name, expected);
  if (!t.defined()) t = Tensor::zeros(expected);
  if (dtype_is_float(t.dtype())) t = ops::cast(t, DType::F32);
  if (!dims.empty()) t = t.permute(dims);
  t = ops::contiguous(t);
  if (dtype_is_float(t.dtype())) t = ops::cast(t, options_.dtype);
  const auto converted = std::chrono::steady_clock::now();
  if (options_.device != Device::CPU) t = ops::to_device(t, options_.device);
  if (options_.timings != nullptr) {
    options_.timings->checkpoint_s += std::chrono::duration<double>(converted - start).count();
    options_.timings->to_device_s +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - converted).count();
  }
  return t;
}

Tensor WeightBinder::take(const std::string& name, const Shape& expected) const {
  return take_permuted(name, expected, {});
}

void WeightBinder::ignore(const std::string& name) const {
  if (store_->contains(prefix_ + name)) log_->used.insert(prefix_ + name);
}

void WeightBinder::ignore_subtree(const std::string& name) const {
  const std::string sub = prefix_ + name + ".";
  for (const auto& key : store_->keys())
    if (key.compare(0, sub.size(), sub) == 0) log_->used.insert(key);
}

void WeightBinder::finish(const std::string& what) const {
  // A listing pass runs against an empty store: every key is missing by design.
  if (t_request_sink != nullptr) return;
  std::vector<std::string> unexpected;
  for (const auto& key : store_->keys())
    if (key.compare(0, prefix_.size(), prefix_) == 0 && !log_->used.count(key)) unexpected.push_back(key);
  if (log_->missing.empty() && log_->misshaped.empty() && unexpected.empty()) return;
  std::ostringstream os;
  os << "[load] " << what << " from " << store_->path() << ":";
  auto list = [&](const char* label, const std::vector<std::string>& keys) {
    if (keys.empty()) return;
    os << ' ' << keys.size() << ' ' << label << " (";
    for (std::size_t i = 0; i < keys.size() && i < 8; ++i) os << (i ? ", " : "") << keys[i];
    if (keys.size() > 8) os << ", ...";
    os << ");";
  };
  list("missing", log_->missing);
  list("mis-shaped", log_->misshaped);
  list("unexpected", unexpected);
  fail(os.str());
}

}  // namespace wma::nn
