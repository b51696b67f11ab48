#include "sampling/sampler.h"

#include "core/error.h"

namespace wma::sampling {

SamplerKind parse_sampler(std::string_view name) {
  if (name == "ddim") return SamplerKind::Ddim;
  if (name == "dpmpp_2m") return SamplerKind::DpmSolverPP2M;
  if (name == "unipc") return SamplerKind::UniPC;
  fail("[sampling] unknown sampler '", name, "' (expected ddim, dpmpp_2m or unipc)");
}

std::string_view sampler_name(SamplerKind kind) {
  switch (kind) {
    case SamplerKind::Ddim: return "ddim";
    case SamplerKind::DpmSolverPP2M: return "dpmpp_2m";
    case SamplerKind::UniPC: return "unipc";
  }
  return "?";
}

}  // namespace wma::sampling
