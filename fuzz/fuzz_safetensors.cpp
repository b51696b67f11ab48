// libFuzzer target: a .safetensors file as `wma inspect`/`convert` and the model loaders open it.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_tensors.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace wma;
  try {
    const io::SafetensorsSource source(io::MappedFile::from_bytes("fuzz.safetensors", {data, data + size}));
    fuzz::read_every_tensor(source);
    for (const auto& [key, value] : source.metadata()) value.as_string();
  } catch (const Error&) {
  }
  return 0;
}
