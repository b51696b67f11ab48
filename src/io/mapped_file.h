// Read-only view of a whole file through mmap. Tensors loaded from checkpoints point into the
// mapping and hold it alive through Storage::owner.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace wma::io {

class MappedFile {
 public:
  // Throws wma::Error naming the file when it cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  // A file's bytes already in memory, held on the heap under the name `path`: the fuzz targets read inputs this
  // way, so that AddressSanitizer sees a read one byte past the end (a mapping's last page would hide it).
  static std::shared_ptr<MappedFile> from_bytes(std::string path, std::vector<std::uint8_t> bytes);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  std::size_t size() const { return size_; }
  const std::uint8_t* data() const { return data_; }

  // CPU tensor viewing bytes [byte_offset, byte_offset + bytes) of the file; the storage keeps the
  // mapping alive. Falls back to a heap copy when the bytes are not aligned for `dtype`.
  Tensor view(std::size_t byte_offset, std::size_t bytes, DType dtype, const Shape& shape, const Shape& strides,
              std::int64_t element_offset) const;

 private:
  MappedFile() = default;
  std::string path_;
  std::size_t size_ = 0;
  std::uint8_t* data_ = nullptr;
  std::vector<std::uint8_t> owned_;  // from_bytes' copy; empty for a mapping
  std::weak_ptr<MappedFile> self_;
};

}  // namespace wma::io
