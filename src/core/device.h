#pragma once

#include <cstdint>
#include <string_view>

namespace wma {

enum class Device : std::uint8_t { CPU, CUDA };

constexpr std::string_view device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

// True when this build contains the CUDA backend (it may still find no GPU at run time).
bool cuda_compiled();

}  // namespace wma
