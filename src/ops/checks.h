// Argument checks and backend dispatch shared by the op front door (ops/*.cpp only).
// Messages name the op and the expected layout: "[conv2d] expected x [N, H, W, Cin], got f32[2, 3] cpu".
#pragma once

#include <string>

#include "backends/backend.h"
#include "core/error.h"
#include "core/tensor.h"
#include "ops/op_profile.h"

namespace wma::ops::detail {

inline void check_defined(const char* op, const char* name, const Tensor& t) {
  WMA_CHECK(t.defined(), "[", op, "] ", name, " is an undefined tensor");
}

// t must have `rank` dims; `layout` spells them for the message, e.g. "[N, H, W, Cin]".
inline void check_rank(const char* op, const char* name, const Tensor& t, int rank, const char* layout) {
  check_defined(op, name, t);
  WMA_CHECK(t.dim() == rank, "[", op, "] expected ", name, " ", layout, ", got ", t.describe());
}

inline void check_shape(const char* op, const char* name, const Tensor& t, const Shape& shape) {
  check_defined(op, name, t);
  WMA_CHECK(t.shape() == shape, "[", op, "] expected ", name, " of shape ", shape_str(shape), ", got ", t.describe());
}

// Operands of one op share the first operand's device and dtype.
inline void check_same(const char* op, const char* ref_name, const Tensor& ref, const char* name, const Tensor& t) {
  check_defined(op, name, t);
  WMA_CHECK(t.device() == ref.device(), "[", op, "] ", name, " is on ", device_name(t.device()), " but ", ref_name,
            " is on ", device_name(ref.device()), " (", t.describe(), " vs ", ref.describe(), ")");
  WMA_CHECK(t.dtype() == ref.dtype(), "[", op, "] ", name, " has dtype ", dtype_name(t.dtype()), " but ", ref_name,
            " has ", dtype_name(ref.dtype()), " (", t.describe(), " vs ", ref.describe(), ")");
}

inline void check_same_device(const char* op, const char* ref_name, const Tensor& ref, const char* name,
                              const Tensor& t) {
  check_defined(op, name, t);
  WMA_CHECK(t.device() == ref.device(), "[", op, "] ", name, " is on ", device_name(t.device()), " but ", ref_name,
            " is on ", device_name(ref.device()), " (", t.describe(), " vs ", ref.describe(), ")");
}

inline void check_float(const char* op, const char* name, const Tensor& t) {
  WMA_CHECK(dtype_is_float(t.dtype()), "[", op, "] ", name, " must be a float tensor, got ", t.describe());
}

inline int wrap_dim(const char* op, int d, int rank) {
  const int w = d < 0 ? d + rank : d;
  WMA_CHECK(w >= 0 && w < rank, "[", op, "] dimension ", d, " out of range for rank ", rank);
  return w;
}

[[noreturn]] inline void no_cuda(const char* op) { fail("[", op, "] this build has no CUDA backend"); }

}  // namespace wma::ops::detail

// Calls `call` (a kernel call written without namespace) in wma::cpu or wma::cuda, by `device`.
// WMA_DISPATCH_TRAFFIC also tells the op profile the fewest bytes the call must move (operands read once,
// the output written once), so the table shows its effective bandwidth.
#if WMA_WITH_CUDA
#define WMA_DISPATCH_SHAPED(op, device, bytes, like, call)                  \
  do {                                                                      \
    if ((device) == ::wma::Device::CPU) {                                   \
      ::wma::cpu::call;                                                     \
    } else {                                                                \
      const ::wma::ops::detail::OpTimer op_timer_(op, device, bytes, like); \
      ::wma::cuda::call;                                                    \
    }                                                                       \
  } while (0)
#else
#define WMA_DISPATCH_SHAPED(op, device, bytes, like, call) \
  do {                                                     \
    if ((device) == ::wma::Device::CPU) ::wma::cpu::call;  \
    else ::wma::ops::detail::no_cuda(op);                  \
  } while (0)
#endif
#define WMA_DISPATCH_TRAFFIC(op, device, bytes, call) WMA_DISPATCH_SHAPED(op, device, bytes, nullptr, call)
#define WMA_DISPATCH(op, device, call) WMA_DISPATCH_TRAFFIC(op, device, 0, call)

namespace wma::ops::detail {
// Sum of the operands' sizes in bytes (null pointers count nothing).
inline std::int64_t traffic(std::initializer_list<const Tensor*> operands) {
  std::int64_t bytes = 0;
  for (const Tensor* t : operands)
    if (t != nullptr) bytes += static_cast<std::int64_t>(t->nbytes());
  return bytes;
}
}  // namespace wma::ops::detail
