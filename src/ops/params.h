// The parameter types of the op set, shared by ops/ops.h and the backends' kernel list (backends/kernels.inc).
// Types only, on core/ alone: the backends include this header, never ops/ops.h, so the layers stay acyclic.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace wma::ops {

enum class Activation : std::uint8_t { None, SiLU, GELU, GELUTanh, Mish, ReLU };

struct LinearEpilogue {
  Activation act = Activation::None;  // applied after the bias
  const Tensor* residual = nullptr;   // added last, shape of the output
};

struct Conv2dParams {
  int stride = 1;
  int padding = 0;  // zeros, same on all four sides
};

struct Conv1dParams {
  int stride = 1;
  int padding = 0;
};

// One key/value set of attention_sum, shaped as attention's k, v and mask.
struct KeyValueBranch {
  Tensor k, v;
  const Tensor* mask = nullptr;
};

enum class TimestepStyle : std::uint8_t {
  CosSin,        // UNet: freq_i = exp(-ln(10000) i / half), output [cos | sin]
  SinCosHalfM1,  // 1-D heads: freq_i = exp(-ln(10000) i / (half - 1)), output [sin | cos]
};

// One eta-0 epsilon DDIM step with x0 clipping (diffusers DDIMScheduler.step), each operation rounded to
// float32 as torch does it: x0 = (sample - sqrt_beta_prod * eps) / sqrt_alpha_prod (on CUDA torch multiplies
// by inv_sqrt_alpha_prod instead: `multiply_by_reciprocal`), clamped to [-clip_range, clip_range] when
// `clip` (NaN stays NaN), then sqrt_alpha_prod_prev * x0 + dir_coefficient * eps. eps and sample f32.
struct EpsDdimStep {
  float sqrt_beta_prod = 0, sqrt_alpha_prod = 1, inv_sqrt_alpha_prod = 1, sqrt_alpha_prod_prev = 0;
  float dir_coefficient = 0;
  bool clip = true;
  float clip_range = 1.0f;
  bool multiply_by_reciprocal = false;
};

}  // namespace wma::ops
