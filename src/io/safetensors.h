// safetensors: a lazy reader over an mmapped file and a streaming writer that emits one tensor
// at a time into OUT.tmp and renames it into place, so a failed write never leaves a partial file.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/json.h"
#include "io/mapped_file.h"
#include "io/temp_file.h"
#include "io/tensor_bytes.h"
#include "io/weight_store.h"

namespace wma::io {

class SafetensorsSource : public TensorSource {
 public:
  // Maps and validates the whole header; throws naming the file and the problem.
  explicit SafetensorsSource(const std::string& path) : SafetensorsSource(MappedFile::open(path)) {}
  explicit SafetensorsSource(std::shared_ptr<MappedFile> file);

  const std::string& path() const override { return file_->path(); }
  const std::vector<TensorInfo>& tensors() const override { return infos_; }
  Tensor load(const std::string& name) const override;
  std::string format() const override { return "safetensors"; }
  const json::Object& metadata() const { return metadata_; }

 private:
  struct Entry {
    FileDType stored;
    std::size_t begin;  // absolute file offsets
    std::size_t end;
  };
  std::shared_ptr<MappedFile> file_;
  std::vector<TensorInfo> infos_;
  std::vector<Entry> entries_;  // parallel to infos_
  std::map<std::string, std::size_t> index_;
  json::Object metadata_;
};

class SafetensorsWriter {
 public:
  // Produces the tensor to write: any layout, dtype equal to the declared one. Called once,
  // in add() order, during finish(), so only one produced tensor is alive at a time.
  using Producer = std::function<Tensor()>;

  explicit SafetensorsWriter(std::string path);
  ~SafetensorsWriter() = default;  // OUT.tmp goes with it if finish() did not complete (io/temp_file.h)
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  void set_metadata(const std::string& key, const std::string& value);
  void add(const std::string& name, DType dtype, const Shape& shape, Producer producer);
  void add(const std::string& name, const Tensor& tensor);
  // Writes header and data to OUT.tmp, then renames it to OUT.
  void finish();

 private:
  struct Pending {
    std::string name;
    DType dtype;
    Shape shape;
    Producer producer;
  };
  std::string path_;
  std::optional<TempFile> tmp_;
  std::vector<Pending> pending_;
  json::Object metadata_;
};

}  // namespace wma::io
