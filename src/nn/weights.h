// Binding checkpoint tensors to model members by their key names. A WeightBinder walks the
// key tree (prefix + name), checks each shape, converts dtype/layout/device, and records
// every problem instead of stopping at the first, so one load reports all missing,
// unexpected and mis-shaped keys of a module at once.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/weight_store.h"

namespace wma::nn {

// Where a load's time goes, accumulated by every binder that is given it: reading (or generating) the stored
// tensors and converting them on the host, and copying them to the device.
struct LoadTimings {
  double checkpoint_s = 0;
  double to_device_s = 0;
};

struct LoadOptions {
  Device device = Device::CPU;
  DType dtype = DType::F32;        // storage type of float weights on the device
  LoadTimings* timings = nullptr;  // optional, see LoadTimings
};

// Shared state of one load: which keys were taken and what went wrong.
struct BindLog {
  std::set<std::string> used;
  std::vector<std::string> missing;
  std::vector<std::string> misshaped;
};

// While alive, every (key, expected shape) any binder on this thread asks for is appended
// to `sink`: building a model once against an empty store yields its checkpoint listing.
// Meanwhile finish() reports nothing, so a composite module records all of its parts.
class ScopedRequestLog {
 public:
  explicit ScopedRequestLog(std::vector<io::TensorInfo>& sink);
  ~ScopedRequestLog();
  ScopedRequestLog(const ScopedRequestLog&) = delete;
  ScopedRequestLog& operator=(const ScopedRequestLog&) = delete;

 private:
  std::vector<io::TensorInfo>* previous_;
};

class WeightBinder {
 public:
  WeightBinder(const io::WeightStore& store, std::string prefix, LoadOptions options);

  // Binder for the sub-module `name` (prefix + name + ".").
  WeightBinder child(const std::string& name) const;
  const std::string& prefix() const { return prefix_; }
  const LoadOptions& options() const { return options_; }
  bool has(const std::string& name) const;

  // The tensor `prefix + name`, checked against `expected` (torch layout), converted to
  // options().dtype (floats only) and moved to options().device. A missing or mis-shaped key
  // is logged and a zero tensor of the expected shape is returned so loading can go on.
  Tensor take(const std::string& name, const Shape& expected) const;
  // Same, but kept as f32 on the CPU (schedule buffers, host-side constants).
  Tensor take_host_f32(const std::string& name, const Shape& expected) const;
  // Same as take, with the CPU copy permuted by `dims` before moving to the device
  // (e.g. conv weights from torch's OIHW to channels-last OHWI).
  Tensor take_permuted(const std::string& name, const Shape& expected, const std::vector<int>& dims) const;
  // Marks `prefix + name` as intentionally unused (known-dead upstream weights).
  void ignore(const std::string& name) const;
  // Marks every key under `prefix + name` as intentionally unused.
  void ignore_subtree(const std::string& name) const;

  // Throws one Error listing every missing, mis-shaped, and (for keys under this binder's
  // prefix) unexpected key; `what` names the module in the message.
  void finish(const std::string& what) const;

 private:
  WeightBinder(const io::WeightStore& store, std::string prefix, LoadOptions options, std::shared_ptr<BindLog> log);
  Tensor fetch_checked(const std::string& key, const Shape& expected) const;

  const io::WeightStore* store_;
  std::string prefix_;
  LoadOptions options_;
  std::shared_ptr<BindLog> log_;
};

}  // namespace wma::nn
