#include "io/h5.h"

#include "core/error.h"
#include "io/h5_builtin.h"
#include "io/mapped_file.h"

#if WMA_WITH_HDF5
#include <hdf5.h>
#endif

namespace wma::io {

#if WMA_WITH_HDF5
namespace {

// Closes an HDF5 handle on scope exit with the matching close function.
class H5Handle {
 public:
  H5Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~H5Handle() {
    if (id_ >= 0) close_(id_);
  }
  H5Handle(H5Handle&& other) noexcept : id_(other.id_), close_(other.close_) { other.id_ = -1; }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

H5Handle open_file(const std::string& path) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors are reported by us, once
  H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  WMA_CHECK(file.valid(), "[h5] ", path, ": cannot open as an HDF5 file");
  return file;
}

herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->emplace_back(name);
  return 0;
}

}  // namespace

bool hdf5_available() { return true; }

std::vector<std::string> list_h5_datasets(const std::string& path) {
  H5Handle file = open_file(path);
  std::vector<std::string> names;
  H5Literate(file.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_name, &names);
  return names;
}

Tensor read_h5_dataset(const std::string& path, const std::string& dataset) {
  H5Handle file = open_file(path);
  WMA_CHECK(H5Lexists(file.get(), dataset.c_str(), H5P_DEFAULT) > 0, "[h5] ", path, ": no dataset '", dataset, "'");
  H5Handle ds(H5Dopen2(file.get(), dataset.c_str(), H5P_DEFAULT), H5Dclose);
  WMA_CHECK(ds.valid(), "[h5] ", path, ": cannot open dataset '", dataset, "'");
  H5Handle type(H5Dget_type(ds.get()), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type.get());
  WMA_CHECK(cls == H5T_FLOAT || cls == H5T_INTEGER, "[h5] ", path, ": dataset '", dataset, "' is not numeric");
  H5Handle space(H5Dget_space(ds.get()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  WMA_CHECK(rank >= 0 && rank <= 8, "[h5] ", path, ": dataset '", dataset, "' has unsupported rank ", rank);
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  Shape shape(dims.begin(), dims.end());
  Tensor out = Tensor::empty(shape, DType::F32);
  if (out.numel() > 0)
    WMA_CHECK(H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data_ptr()) >= 0, "[h5] ", path,
              ": cannot read dataset '", dataset, "'");
  return out;
}

std::string read_h5_string_attribute(const std::string& path, const std::string& attribute) {
  H5Handle file = open_file(path);
  if (H5Aexists(file.get(), attribute.c_str()) <= 0) return {};
  H5Handle attr(H5Aopen(file.get(), attribute.c_str(), H5P_DEFAULT), H5Aclose);
  H5Handle type(H5Aget_type(attr.get()), H5Tclose);
  WMA_CHECK(H5Tget_class(type.get()) == H5T_STRING, "[h5] ", path, ": attribute '", attribute, "' is not a string");
  if (H5Tis_variable_str(type.get()) > 0) {
    H5Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));  // h5py writes UTF-8; HDF5 won't convert charsets
    char* value = nullptr;
    WMA_CHECK(H5Aread(attr.get(), mem.get(), &value) >= 0, "[h5] ", path, ": cannot read attribute '", attribute, "'");
    std::string s = value ? value : "";
    H5free_memory(value);
    return s;
  }
  const std::size_t size = H5Tget_size(type.get());
  std::string s(size, '\0');
  WMA_CHECK(H5Aread(attr.get(), type.get(), s.data()) >= 0, "[h5] ", path, ": cannot read attribute '", attribute, "'");
  s.resize(s.find('\0') == std::string::npos ? s.size() : s.find('\0'));
  return s;
}

#else

bool hdf5_available() { return false; }

std::vector<std::string> list_h5_datasets(const std::string& path) {
  return h5_builtin::list_datasets(*MappedFile::open(path));
}
Tensor read_h5_dataset(const std::string& path, const std::string& dataset) {
  return h5_builtin::read_dataset(*MappedFile::open(path), dataset);
}
std::string read_h5_string_attribute(const std::string& path, const std::string& attribute) {
  return h5_builtin::read_string_attribute(*MappedFile::open(path), attribute);
}

#endif

}  // namespace wma::io
