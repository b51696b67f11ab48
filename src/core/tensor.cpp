#include "core/tensor.h"

#include <algorithm>
#include <cstring>
#include <sstream>

namespace wma {

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

std::int64_t shape_numel(const Shape& shape) {
  std::int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  std::int64_t s = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

Tensor::Tensor(std::shared_ptr<Storage> storage, Shape shape, Shape strides, std::int64_t offset, DType dtype)
    : storage_(std::move(storage)),
      shape_(std::move(shape)),
      strides_(std::move(strides)),
      offset_(offset),
      dtype_(dtype) {
  WMA_CHECK(shape_.size() == strides_.size(), "[tensor] shape ", shape_str(shape_), " and strides ",
            shape_str(strides_), " differ in rank");
  for (auto s : shape_) WMA_CHECK(s >= 0, "[tensor] negative size in shape ", shape_str(shape_));
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (auto s : shape) WMA_CHECK(s >= 0, "[tensor] negative size in shape ", shape_str(shape));
  auto storage = current_allocator(device).allocate(static_cast<std::size_t>(shape_numel(shape)) * dtype_size(dtype));
  return Tensor(std::move(storage), shape, contiguous_strides(shape), 0, dtype);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype, Device::CPU);
  if (t.nbytes() > 0) std::memset(t.data_ptr(), 0, t.nbytes());
  return t;
}

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape, DType::F32, Device::CPU);
  std::fill_n(t.data<float>(), t.numel(), value);
  return t;
}

Tensor Tensor::from_floats(const Shape& shape, const std::vector<float>& values) {
  WMA_CHECK(static_cast<std::int64_t>(values.size()) == shape_numel(shape), "[tensor] ", values.size(),
            " values for shape ", shape_str(shape));
  Tensor t = empty(shape, DType::F32, Device::CPU);
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

Tensor Tensor::from_ints(const Shape& shape, const std::vector<std::int64_t>& values, DType dtype) {
  WMA_CHECK(static_cast<std::int64_t>(values.size()) == shape_numel(shape), "[tensor] ", values.size(),
            " values for shape ", shape_str(shape));
  WMA_CHECK(dtype == DType::I64 || dtype == DType::I32, "[tensor] from_ints needs an integer dtype");
  Tensor t = empty(shape, dtype, Device::CPU);
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::I64) t.data<std::int64_t>()[i] = values[i];
    else t.data<std::int32_t>()[i] = static_cast<std::int32_t>(values[i]);
  }
  return t;
}

static int wrap_dim(int d, int rank, const char* op) {
  const int w = d < 0 ? d + rank : d;
  WMA_CHECK(w >= 0 && w < rank, "[", op, "] dimension ", d, " out of range for rank ", rank);
  return w;
}

std::int64_t Tensor::size(int d) const { return shape_[wrap_dim(d, dim(), "size")]; }
std::int64_t Tensor::stride(int d) const { return strides_[wrap_dim(d, dim(), "stride")]; }

bool Tensor::is_contiguous() const {
  std::int64_t expected = 1;
  for (int i = dim() - 1; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

void* Tensor::data_ptr() const {
  WMA_CHECK(storage_ != nullptr, "[tensor] access to an undefined tensor");
  return static_cast<char*>(storage_->data) + offset_ * static_cast<std::int64_t>(dtype_size(dtype_));
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape resolved = shape;
  int infer = -1;
  std::int64_t known = 1;
  for (int i = 0; i < static_cast<int>(resolved.size()); ++i) {
    if (resolved[i] == -1) {
      WMA_CHECK(infer < 0, "[reshape] more than one -1 in ", shape_str(shape));
      infer = i;
    } else {
      known *= resolved[i];
    }
  }
  if (infer >= 0) {
    WMA_CHECK(known > 0 && numel() % known == 0, "[reshape] cannot reshape ", describe(), " to ", shape_str(shape));
    resolved[infer] = numel() / known;
  }
  WMA_CHECK(shape_numel(resolved) == numel(), "[reshape] cannot reshape ", describe(), " to ", shape_str(shape));
  WMA_CHECK(is_contiguous(), "[reshape] needs a contiguous tensor, got ", describe());
  return Tensor(storage_, resolved, contiguous_strides(resolved), offset_, dtype_);
}

Tensor Tensor::permute(const std::vector<int>& dims) const {
  WMA_CHECK(static_cast<int>(dims.size()) == dim(), "[permute] ", dims.size(), " dims for ", describe());
  Shape s(dims.size()), st(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const int d = wrap_dim(dims[i], dim(), "permute");
    WMA_CHECK(!seen[d], "[permute] repeated dimension ", d);
    seen[d] = true;
    s[i] = shape_[d];
    st[i] = strides_[d];
  }
  return Tensor(storage_, s, st, offset_, dtype_);
}

Tensor Tensor::transpose(int a, int b) const {
  std::vector<int> dims(dim());
  for (int i = 0; i < dim(); ++i) dims[i] = i;
  std::swap(dims[wrap_dim(a, dim(), "transpose")], dims[wrap_dim(b, dim(), "transpose")]);
  return permute(dims);
}

Tensor Tensor::slice(int d, std::int64_t start, std::int64_t end) const {
  d = wrap_dim(d, dim(), "slice");
  WMA_CHECK(0 <= start && start <= end && end <= shape_[d], "[slice] range [", start, ", ", end, ") out of ",
            describe(), " along dim ", d);
  Shape s = shape_;
  s[d] = end - start;
  return Tensor(storage_, s, strides_, offset_ + start * strides_[d], dtype_);
}

Tensor Tensor::select(int d, std::int64_t index) const {
  d = wrap_dim(d, dim(), "select");
  WMA_CHECK(0 <= index && index < shape_[d], "[select] index ", index, " out of ", describe(), " along dim ", d);
  Shape s = shape_, st = strides_;
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  return Tensor(storage_, s, st, offset_ + index * strides_[d], dtype_);
}

Tensor Tensor::unsqueeze(int d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape s = shape_, st = strides_;
  const std::int64_t stride = d < dim() ? strides_[d] * shape_[d] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  return Tensor(storage_, s, st, offset_, dtype_);
}

Tensor Tensor::expand(const Shape& shape) const {
  WMA_CHECK(static_cast<int>(shape.size()) == dim(), "[expand] rank mismatch: ", describe(), " to ", shape_str(shape));
  Shape st = strides_;
  for (int i = 0; i < dim(); ++i) {
    if (shape_[i] == shape[i]) continue;
    WMA_CHECK(shape_[i] == 1, "[expand] cannot expand ", describe(), " to ", shape_str(shape));
    st[i] = 0;
  }
  return Tensor(storage_, shape, st, offset_, dtype_);
}

namespace {

template <typename Fn>
void for_each_offset(const Shape& shape, const Shape& strides, Fn fn) {
  const int rank = static_cast<int>(shape.size());
  const std::int64_t n = shape_numel(shape);
  std::vector<std::int64_t> index(rank, 0);
  std::int64_t off = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    fn(i, off);
    for (int d = rank - 1; d >= 0; --d) {
      if (++index[d] < shape[d]) {
        off += strides[d];
        break;
      }
      off -= strides[d] * (shape[d] - 1);
      index[d] = 0;
    }
  }
}

}  // namespace

std::vector<float> Tensor::to_floats() const {
  WMA_CHECK(device() == Device::CPU, "[to_floats] needs a CPU tensor, got ", describe());
  std::vector<float> out(static_cast<std::size_t>(numel()));
  const char* base = static_cast<const char*>(data_ptr());
  for_each_offset(shape_, strides_, [&](std::int64_t i, std::int64_t off) {
    const char* p = base + off * static_cast<std::int64_t>(dtype_size(dtype_));
    switch (dtype_) {
      case DType::F32: out[i] = *reinterpret_cast<const float*>(p); break;
      case DType::F16: out[i] = half_to_float(*reinterpret_cast<const std::uint16_t*>(p)); break;
      case DType::BF16: out[i] = bf16_to_float(*reinterpret_cast<const std::uint16_t*>(p)); break;
      case DType::I32: out[i] = static_cast<float>(*reinterpret_cast<const std::int32_t*>(p)); break;
      case DType::I64: out[i] = static_cast<float>(*reinterpret_cast<const std::int64_t*>(p)); break;
    }
  });
  return out;
}

std::vector<std::int64_t> Tensor::to_ints() const {
  WMA_CHECK(device() == Device::CPU, "[to_ints] needs a CPU tensor, got ", describe());
  WMA_CHECK(dtype_ == DType::I32 || dtype_ == DType::I64, "[to_ints] needs an integer tensor, got ", describe());
  std::vector<std::int64_t> out(static_cast<std::size_t>(numel()));
  const char* base = static_cast<const char*>(data_ptr());
  for_each_offset(shape_, strides_, [&](std::int64_t i, std::int64_t off) {
    const char* p = base + off * static_cast<std::int64_t>(dtype_size(dtype_));
    out[i] =
        dtype_ == DType::I64 ? *reinterpret_cast<const std::int64_t*>(p) : *reinterpret_cast<const std::int32_t*>(p);
  });
  return out;
}

float Tensor::item() const {
  WMA_CHECK(numel() == 1, "[item] needs one element, got ", describe());
  return to_floats()[0];
}

std::string Tensor::describe() const {
  return str_cat(dtype_name(dtype_), shape_str(shape_), ' ', device_name(device()));
}

}  // namespace wma
