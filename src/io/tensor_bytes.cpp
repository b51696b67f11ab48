// Stored element types and CPU conversion copies used by the checkpoint readers and writers.
#include "io/tensor_bytes.h"

#include <cstring>

namespace wma::io {

namespace {

template <typename F>
void for_each_index(const Shape& shape, const Shape& strides, std::int64_t offset, F&& f) {
  const std::int64_t n = shape_numel(shape);
  if (n == 0) return;
  const int rank = static_cast<int>(shape.size());
  std::vector<std::int64_t> idx(shape.size(), 0);
  std::int64_t off = offset;
  for (std::int64_t i = 0; i < n; ++i) {
    f(i, off);
    for (int d = rank - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        off += strides[d];
        break;
      }
      off -= strides[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}

template <typename T>
T read_as(const std::uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

float read_float(const std::uint8_t* p, DType t) {
  switch (t) {
    case DType::F32: return read_as<float>(p);
    case DType::F16: return half_to_float(read_as<std::uint16_t>(p));
    case DType::BF16: return bf16_to_float(read_as<std::uint16_t>(p));
    default: return 0.0f;
  }
}

void write_float(std::uint8_t* p, DType t, float v) {
  switch (t) {
    case DType::F32: std::memcpy(p, &v, 4); break;
    case DType::F16: {
      const std::uint16_t h = float_to_half(v);
      std::memcpy(p, &h, 2);
      break;
    }
    case DType::BF16: {
      const std::uint16_t h = float_to_bf16(v);
      std::memcpy(p, &h, 2);
      break;
    }
    default: break;
  }
}

}  // namespace

std::size_t file_dtype_size(FileDType t) {
  switch (t) {
    case FileDType::F32: return 4;
    case FileDType::F16: return 2;
    case FileDType::BF16: return 2;
    case FileDType::I32: return 4;
    case FileDType::I64: return 8;
    case FileDType::F64: return 8;
    case FileDType::U8: return 1;
    case FileDType::I8: return 1;
    case FileDType::I16: return 2;
    case FileDType::Bool: return 1;
  }
  return 0;
}

std::string_view file_dtype_name(FileDType t) {
  switch (t) {
    case FileDType::F32: return "F32";
    case FileDType::F16: return "F16";
    case FileDType::BF16: return "BF16";
    case FileDType::I32: return "I32";
    case FileDType::I64: return "I64";
    case FileDType::F64: return "F64";
    case FileDType::U8: return "U8";
    case FileDType::I8: return "I8";
    case FileDType::I16: return "I16";
    case FileDType::Bool: return "BOOL";
  }
  return "?";
}

DType loaded_dtype(FileDType t) {
  switch (t) {
    case FileDType::F32: return DType::F32;
    case FileDType::F16: return DType::F16;
    case FileDType::BF16: return DType::BF16;
    case FileDType::I64: return DType::I64;
    case FileDType::F64: return DType::F32;
    default: return DType::I32;
  }
}

bool is_native(FileDType t) {
  return t == FileDType::F32 || t == FileDType::F16 || t == FileDType::BF16 || t == FileDType::I32 ||
         t == FileDType::I64;
}

FileDType file_dtype_of(DType t) {
  switch (t) {
    case DType::F32: return FileDType::F32;
    case DType::F16: return FileDType::F16;
    case DType::BF16: return FileDType::BF16;
    case DType::I32: return FileDType::I32;
    case DType::I64: return FileDType::I64;
  }
  return FileDType::F32;
}

Tensor widen_copy(const std::uint8_t* base, FileDType stored, const Shape& shape, const Shape& strides,
                  std::int64_t offset) {
  const DType out_type = loaded_dtype(stored);
  Tensor out = Tensor::empty(shape, out_type, Device::CPU);
  auto* dst = static_cast<std::uint8_t*>(out.data_ptr());
  const auto es = static_cast<std::int64_t>(file_dtype_size(stored));
  for_each_index(shape, strides, offset, [&](std::int64_t i, std::int64_t off) {
    const std::uint8_t* p = base + off * es;
    switch (stored) {
      case FileDType::F64: {
        const float f = static_cast<float>(read_as<double>(p));
        std::memcpy(dst + i * 4, &f, 4);
        return;
      }
      case FileDType::U8:
      case FileDType::Bool: {
        const std::int32_t v = *p;
        std::memcpy(dst + i * 4, &v, 4);
        return;
      }
      case FileDType::I8: {
        const std::int32_t v = static_cast<std::int8_t>(*p);
        std::memcpy(dst + i * 4, &v, 4);
        return;
      }
      case FileDType::I16: {
        const std::int32_t v = read_as<std::int16_t>(p);
        std::memcpy(dst + i * 4, &v, 4);
        return;
      }
      default: {
        const auto n = file_dtype_size(stored);
        std::memcpy(dst + i * static_cast<std::int64_t>(n), p, n);
        return;
      }
    }
  });
  return out;
}

Tensor contiguous_as(const Tensor& t, DType dtype) {
  WMA_CHECK(t.device() == Device::CPU, "[convert] needs a CPU tensor, got ", t.describe());
  if (t.dtype() == dtype && t.is_contiguous()) return t;
  const bool from_float = dtype_is_float(t.dtype());
  WMA_CHECK(from_float == dtype_is_float(dtype), "[convert] cannot convert ", t.describe(), " to ", dtype_name(dtype));
  Tensor out = Tensor::empty(t.shape(), dtype, Device::CPU);
  const auto* src = static_cast<const std::uint8_t*>(t.storage()->data);
  auto* dst = static_cast<std::uint8_t*>(out.data_ptr());
  const auto in_size = static_cast<std::int64_t>(dtype_size(t.dtype()));
  const auto out_size = static_cast<std::int64_t>(dtype_size(dtype));
  for_each_index(t.shape(), t.strides(), t.offset(), [&](std::int64_t i, std::int64_t off) {
    const std::uint8_t* p = src + off * in_size;
    std::uint8_t* q = dst + i * out_size;
    if (t.dtype() == dtype) {
      std::memcpy(q, p, static_cast<std::size_t>(out_size));
    } else if (from_float) {
      write_float(q, dtype, read_float(p, t.dtype()));
    } else {
      const std::int64_t v =
          t.dtype() == DType::I64 ? read_as<std::int64_t>(p) : static_cast<std::int64_t>(read_as<std::int32_t>(p));
      if (dtype == DType::I64) {
        std::memcpy(q, &v, 8);
      } else {
        const auto v32 = static_cast<std::int32_t>(v);
        std::memcpy(q, &v32, 4);
      }
    }
  });
  return out;
}

}  // namespace wma::io
