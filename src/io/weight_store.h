// Checkpoint access by key name. Readers (safetensors, the official .ckpt) turn a file into
// a neutral index of (name, dtype, shape) and load tensors on demand; the WeightStore applies
// upstream's loading quirks on top, so models see the names of upstream's state_dict.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace wma::io {

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
};

// How the file's tensor names relate to the model's: DeepSpeed checkpoints prefix every key
// with the 16 characters `_forward_module.` (upstream strips them blindly).
enum class KeyLayout { Plain, DeepSpeed };

class TensorSource {
 public:
  virtual ~TensorSource() = default;
  virtual std::string format() const { return "tensor source"; }  // human-readable, e.g. "safetensors"
  virtual KeyLayout key_layout() const { return KeyLayout::Plain; }
  virtual const std::string& path() const = 0;
  virtual const std::vector<TensorInfo>& tensors() const = 0;
  // CPU tensor in the stored dtype (may be a view of a memory-mapped file); throws
  // wma::Error naming the file and the key when it cannot be read.
  virtual Tensor load(const std::string& name) const = 0;
};

// Opens `.safetensors` or a PyTorch zip checkpoint (detected by content, not extension).
std::unique_ptr<TensorSource> open_tensor_file(const std::string& path);

class WeightStore {
 public:
  explicit WeightStore(std::unique_ptr<TensorSource> source);
  static WeightStore open(const std::string& path) { return WeightStore(open_tensor_file(path)); }

  const std::string& path() const { return source_->path(); }
  const TensorSource& source() const { return *source_; }
  // Names after upstream's quirks (DeepSpeed `module` prefix stripped, `framestride_embed`
  // renamed to `fps_embedding`).
  std::vector<std::string> keys() const;
  const TensorInfo* find(const std::string& key) const;  // null when absent
  bool contains(const std::string& key) const { return find(key) != nullptr; }
  // Contiguous CPU tensor in the stored dtype; throws naming the file and key when absent.
  Tensor load(const std::string& key) const;
  // The name `key` has in the file.
  const std::string& source_name(const std::string& key) const;

 private:
  std::unique_ptr<TensorSource> source_;
  std::vector<TensorInfo> renamed_;           // index under the names models use
  std::vector<std::string> source_names_;     // parallel to renamed_: the name in the file
  std::map<std::string, std::size_t> index_;  // model name -> position in renamed_
};

}  // namespace wma::io
