// Reading upstream's `.h5` transition files (datasets `action`, `observation.state`, string
// attributes). HDF5 is an optional build feature: without it every call explains that.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"

namespace wma::io {

bool hdf5_available();

// A numeric dataset as f32 (converted from any integer/float type), shape as stored.
Tensor read_h5_dataset(const std::string& path, const std::string& dataset);
std::vector<std::string> list_h5_datasets(const std::string& path);
// A string attribute of the root group; empty when absent.
std::string read_h5_string_attribute(const std::string& path, const std::string& attribute);

}  // namespace wma::io
