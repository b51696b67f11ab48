// Front door of the sinusoidal timestep embeddings; the UNet's and the heads' differ in order and divisor
// (docs/upstream.md#timestep-embeddings).
#include "ops/checks.h"
#include "ops/ops.h"

namespace wma::ops {

using namespace detail;

Tensor timestep_embedding(const Tensor& t, int dim, TimestepStyle style) {
  check_rank("timestep_embedding", "t", t, 1, "[B]");
  WMA_CHECK(dim >= 2, "[timestep_embedding] dim must be >= 2, got ", dim);
  // The heads' divisor is half - 1, so they need half >= 2 and an even dim (upstream never pads).
  WMA_CHECK(style == TimestepStyle::CosSin || (dim % 2 == 0 && dim >= 4),
            "[timestep_embedding] SinCosHalfM1 needs an even dim >= 4, got ", dim);
  const Tensor tc = contiguous(t);
  Tensor out = Tensor::empty({t.size(0), dim}, DType::F32, t.device());
  if (out.numel() == 0) return out;
  WMA_DISPATCH("timestep_embedding", t.device(), timestep_embedding(out, tc, style));
  return out;
}

}  // namespace wma::ops
