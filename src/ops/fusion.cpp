// The fusion switch: read once from WMA_CUDA_FUSION (default on), overridable by ScopedFusion.
#include <cstdlib>
#include <string>

#include "ops/ops.h"

namespace wma::ops {
namespace {

bool& fusion_flag() {
  static bool enabled = [] {
    const char* env = std::getenv("WMA_CUDA_FUSION");
    return env == nullptr || std::string(env) != "0";
  }();
  return enabled;
}

}  // namespace

bool fusion_enabled() { return fusion_flag(); }

ScopedFusion::ScopedFusion(bool enabled) : saved_(fusion_flag()) { fusion_flag() = enabled; }
ScopedFusion::~ScopedFusion() { fusion_flag() = saved_; }

}  // namespace wma::ops
