#include "core/device.h"

namespace wma {

bool cuda_compiled() { return WMA_WITH_CUDA != 0; }

}  // namespace wma
