// Tensor: a typed, strided view of a Storage. No autograd, no lazy graph.
// Shapes are in PyTorch order unless a comment says otherwise; activations are channels-last.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"

namespace wma {

using Shape = std::vector<std::int64_t>;

std::string shape_str(const Shape& shape);
std::int64_t shape_numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::shared_ptr<Storage> storage, Shape shape, Shape strides, std::int64_t offset, DType dtype);

  // Uninitialised contiguous tensor from the current allocator of `device`.
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::CPU);
  // CPU tensors with contents.
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32);
  static Tensor full(const Shape& shape, float value);
  static Tensor from_floats(const Shape& shape, const std::vector<float>& values);
  static Tensor from_ints(const Shape& shape, const std::vector<std::int64_t>& values, DType dtype = DType::I64);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int dim() const { return static_cast<int>(shape_.size()); }
  std::int64_t size(int d) const;  // negative d counts from the end
  std::int64_t stride(int d) const;
  std::int64_t numel() const { return shape_numel(shape_); }
  std::int64_t offset() const { return offset_; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device : Device::CPU; }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  void* data_ptr() const;
  template <typename T>
  T* data() const {
    return static_cast<T*>(data_ptr());
  }

  // Views (no copy). reshape requires a contiguous tensor.
  Tensor reshape(const Shape& shape) const;
  Tensor permute(const std::vector<int>& dims) const;
  Tensor transpose(int a, int b) const;
  Tensor slice(int dim, std::int64_t start, std::int64_t end) const;
  Tensor select(int dim, std::int64_t index) const;
  Tensor unsqueeze(int dim) const;
  // Stride-0 view repeating a size-1 dimension (no copy).
  Tensor expand(const Shape& shape) const;

  // CPU convenience for tests and I/O. Requires a CPU tensor; converts any float dtype.
  std::vector<float> to_floats() const;
  std::vector<std::int64_t> to_ints() const;
  float item() const;

  std::string describe() const;  // e.g. "f32[2, 3] cpu"

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Shape strides_;            // in elements
  std::int64_t offset_ = 0;  // in elements
  DType dtype_ = DType::F32;
};

}  // namespace wma
