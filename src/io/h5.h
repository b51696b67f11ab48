// Reading upstream's `.h5` transition files (datasets `action`, `observation.state`, string
// attributes): through libhdf5 where the build has it, else through our own reader of the classic format
// (io/h5_builtin.h), which covers the files h5py writes by default.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"

namespace wma::io {

// Whether libhdf5 is compiled in (else the built-in reader serves the calls below).
bool hdf5_available();

// A numeric dataset as f32 (converted from any integer/float type), shape as stored.
Tensor read_h5_dataset(const std::string& path, const std::string& dataset);
std::vector<std::string> list_h5_datasets(const std::string& path);
// A string attribute of the root group; empty when absent.
std::string read_h5_string_attribute(const std::string& path, const std::string& attribute);

}  // namespace wma::io
