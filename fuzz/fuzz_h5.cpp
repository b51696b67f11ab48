// libFuzzer target: a transition file (.h5) as `wma interact` reads it in a build without libhdf5, through the
// built-in reader (io/h5_builtin.h): the members, every member as a dataset, the root's string attributes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "io/h5_builtin.h"
#include "io/mapped_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace wma;
  const auto file = io::MappedFile::from_bytes("fuzz.h5", {data, data + size});
  try {
    for (const std::string& name : io::h5_builtin::list_datasets(*file)) {
      try {
        io::h5_builtin::read_dataset(*file, name);
      } catch (const Error&) {
      }
    }
  } catch (const Error&) {
  }
  for (const char* path : {"action", "inner/x"}) {
    try {
      io::h5_builtin::read_dataset(*file, path);
    } catch (const Error&) {
    }
  }
  for (const char* attribute : {"robot_type", "fixed", "count"}) {
    try {
      io::h5_builtin::read_string_attribute(*file, attribute);
    } catch (const Error&) {
    }
  }
  return 0;
}
