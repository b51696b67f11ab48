// A restricted pickle reader for torch.save archives: it builds plain data (dicts, lists,
// tuples, numbers, strings) plus storage and tensor descriptors, and never runs Python code.
// Globals are resolved against a fixed allow-list; any other global refuses the file.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
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

struct Object;

// What a container holds; allocated only for containers, so scalars and strings stay small.
struct Children {
  std::vector<Object*> items;                        // Tuple, List (and list-like Opaque)
  std::vector<std::pair<Object*, Object*>> entries;  // Dict (and dict-like Opaque), in insertion order
  // String key -> position in `entries`, so that a repeated key replaces its value in O(1) as Python's dict does;
  // the views point into the key objects' text, which the entries keep alive. Made by the first string key.
  std::unique_ptr<std::unordered_map<std::string_view, std::size_t>> index;
};

// One value of the document, 64 bytes: a large pickle holds millions of them (limits in docs/formats.md).
struct Object {
  enum class Kind : std::uint8_t {
    None,
    Bool,
    Int,
    Float,
    String,
    Bytes,
    Tuple,
    List,
    Dict,
    Global,
    Storage,
    Tensor,
    Opaque
  };
  Kind kind = Kind::None;
  bool boolean = false;
  bool reached = false;  // the reader's mark while it collects values nothing refers to any more
  union {
    std::int64_t integer = 0;
    double real;
  };
  std::string text;  // String/Bytes contents; dotted name for Global and Opaque
  std::unique_ptr<Children> children;
  std::unique_ptr<TensorRef> ref;  // Tensor; Storage uses only ref->storage

  const std::vector<Object*>& items() const;
  const std::vector<std::pair<Object*, Object*>>& entries() const;
  // The value stored under string key `key` in a Dict, or null.
  const Object* find(std::string_view key) const;
  const TensorRef& tensor() const;
  const StorageRef& storage() const;
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
// prefixes every error, which also names the byte offset and the opcode or global at fault. Values that nothing
// on the stack or in the memo refers to any more are freed during the run; live values, memo entries and stack
// depth are each limited to max_pickle_values(size), and values copied by calls to `size` in all.
Document unpickle(const std::uint8_t* data, std::size_t size, const std::string& context);

// 2^20 + size / 4: a torch.save pickle spends more than 4 bytes per value it keeps, and the bound holds a hostile
// stream to about 45 bytes of memory per byte of pickle (0.9 GB for 20 MB; docs/formats.md).
std::size_t max_pickle_values(std::size_t size);

}  // namespace wma::io::pickle
