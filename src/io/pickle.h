// A restricted pickle reader for torch.save archives: it builds plain data (dicts, lists,
// tuples, numbers, strings) plus storage and tensor descriptors, and never runs Python code.
// Globals are resolved against a fixed allow-list; any other global refuses the file.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "io/tensor_bytes.h"

namespace wma::io::pickle {

// A storage named by a persistent id ('storage', type, key, location, numel).
struct StorageRef {
  std::string key;  // entry `<root>/data/<key>` of the archive
  FileDType dtype = FileDType::F32;
  std::uint64_t numel = 0;  // in elements of `dtype`
  std::string location;     // e.g. "cpu", "cuda:0"
};

// What torch._utils._rebuild_tensor_v2 would build: a strided view of a storage.
struct TensorRef {
  StorageRef storage;
  std::int64_t offset = 0;  // in elements
  Shape shape;
  Shape strides;
};

struct Object {
  enum class Kind { None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Global, Storage, Tensor, Opaque };
  Kind kind = Kind::None;
  bool boolean = false;
  std::int64_t integer = 0;
  double real = 0.0;
  std::string text;  // String/Bytes contents; dotted name for Global and Opaque
  std::vector<Object*> items;                      // Tuple, List (and list-like Opaque)
  std::vector<std::pair<Object*, Object*>> entries;  // Dict (and dict-like Opaque), in insertion order
  StorageRef storage;
  TensorRef tensor;
};

// Owns every object of one unpickled document.
class Document {
 public:
  const Object* root() const { return root_; }

 private:
  friend Document unpickle(const std::uint8_t*, std::size_t, const std::string&);
  std::deque<Object> pool_;
  Object* root_ = nullptr;
};

// Runs the restricted VM over one pickle stream. `context` (e.g. "model.ckpt: archive/data.pkl")
// prefixes every error, which also names the byte offset and the opcode or global at fault.
Document unpickle(const std::uint8_t* data, std::size_t size, const std::string& context);

// The dotted names of the globals a pickle may reference.
const std::vector<std::string>& allowed_globals();

}  // namespace wma::io::pickle
