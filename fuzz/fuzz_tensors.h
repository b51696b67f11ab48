// What `wma inspect --values` and `wma convert --dtype bf16` do with every tensor of a checkpoint, shared by the
// checkpoint targets: any tensor an opened file lists must load and convert or fail with wma::Error.
#pragma once

#include "core/error.h"
#include "io/tensor_bytes.h"
#include "io/weight_store.h"

namespace wma::fuzz {

inline void read_every_tensor(const io::TensorSource& source) {
  for (const io::TensorInfo& info : source.tensors()) {
    try {
      const Tensor t = source.load(info.name);
      const Tensor copy = io::contiguous_as(t, t.dtype());
      if (dtype_is_float(t.dtype())) io::contiguous_as(copy, DType::BF16);
    } catch (const Error&) {
    }
  }
}

}  // namespace wma::fuzz
