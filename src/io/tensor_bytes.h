// Element types as stored in checkpoint files (a superset of DType) and the CPU copies
// that turn stored bytes into engine tensors: widening on load, dtype conversion for writers.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/tensor.h"

namespace wma::io {

// Types a file may hold. Those without a DType are widened on load: F64 -> F32,
// 8/16-bit integers and bool -> I32.
enum class FileDType : std::uint8_t { F32, F16, BF16, I32, I64, F64, U8, I8, I16, Bool };

std::size_t file_dtype_size(FileDType t);
std::string_view file_dtype_name(FileDType t);  // safetensors spelling: "F32", "BF16", "BOOL", ...
DType loaded_dtype(FileDType t);
bool is_native(FileDType t);  // stored bytes are usable as-is
FileDType file_dtype_of(DType t);

// Contiguous CPU tensor of `widened` type from stored elements of type `stored` laid out at
// base + (offset + sum(index*stride)) * size(stored).
Tensor widen_copy(const std::uint8_t* base, FileDType stored, const Shape& shape, const Shape& strides,
                  std::int64_t offset);

// Contiguous CPU copy of `t` converted to `dtype`. Float <-> float conversions round to nearest
// even; integers convert only to integers. Returns `t` itself when it already matches.
Tensor contiguous_as(const Tensor& t, DType dtype);

}  // namespace wma::io
