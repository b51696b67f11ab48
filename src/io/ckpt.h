// Native reader for PyTorch zip checkpoints (torch.save, including Lightning and DeepSpeed
// layouts): zip index + restricted pickle, tensors served as views of the mmapped storages.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/mapped_file.h"
#include "io/pickle.h"
#include "io/weight_store.h"
#include "io/zip.h"

namespace wma::io {

class CkptSource : public TensorSource {
 public:
  // Reads the index and the pickle and validates every tensor against its storage; throws
  // naming the file and the problem (bad zip, refused pickle global, storage too short, ...).
  explicit CkptSource(const std::string& path) : CkptSource(MappedFile::open(path)) {}
  explicit CkptSource(std::shared_ptr<MappedFile> file);

  const std::string& path() const override { return file_->path(); }
  const std::vector<TensorInfo>& tensors() const override { return infos_; }
  // Native dtypes come back as (possibly strided) views of the mapping; others widened copies.
  Tensor load(const std::string& name) const override;
  std::string format() const override { return format_; }
  KeyLayout key_layout() const override { return layout_; }

 private:
  void flatten(const pickle::Object* obj, const std::string& prefix, int depth);
  void add_tensor(const std::string& name, const pickle::TensorRef& ref);

  std::shared_ptr<MappedFile> file_;
  std::string root_;  // archive folder, e.g. "archive/"
  std::map<std::string, ZipEntry> entries_;
  std::vector<TensorInfo> infos_;
  std::vector<pickle::TensorRef> refs_;  // parallel to infos_
  std::map<std::string, std::size_t> index_;
  KeyLayout layout_ = KeyLayout::Plain;
  std::string format_;
};

}  // namespace wma::io
