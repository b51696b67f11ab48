// A reader of our own for the HDF5 files upstream's transitions are: h5py's default ("earliest") format, i.e. a
// version 0 or 1 superblock, version 1 object headers, groups as symbol tables (v1 B-trees, local heaps), numeric
// datasets stored contiguous or compact, and fixed or variable-length (global heap) string attributes. Builds
// without libhdf5 read transitions through it (io/h5.h); anything outside that subset (chunked or filtered
// datasets, version 2 object headers, compound types, ...) is refused with the file and the feature named.
//
// Limits, all checked before a read: every offset and length inside the file; group nesting and B-tree depth at
// most 16 levels; at most 65536 members per group, 4096 header messages and 64 continuation blocks per object;
// dataset rank at most 8 and its bytes within the file.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/mapped_file.h"

namespace wma::io::h5_builtin {

// The names of the root group's members, in the order their group stores them (by name).
std::vector<std::string> list_datasets(const MappedFile& file);
// A numeric dataset ('/'-separated path from the root group) as f32, shape as stored.
Tensor read_dataset(const MappedFile& file, const std::string& dataset);
// A string attribute of the root group; empty when absent.
std::string read_string_attribute(const MappedFile& file, const std::string& attribute);

}  // namespace wma::io::h5_builtin
