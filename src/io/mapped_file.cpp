// mmap-backed file view. The mapping is private and writable so that a caller writing into a
// loaded tensor gets copy-on-write pages instead of a fault, and never modifies the file.
#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace wma::io {

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  WMA_CHECK(fd >= 0, "[open] ", path, ": ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("[open] ", path, ": not a regular file");
  }
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = path;
  file->size_ = static_cast<std::size_t>(st.st_size);
  if (file->size_ > 0) {
    void* p = ::mmap(nullptr, file->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);
    WMA_CHECK(p != MAP_FAILED, "[open] ", path, ": mmap failed: ", std::strerror(err));
    file->data_ = static_cast<std::uint8_t*>(p);
  } else {
    ::close(fd);
  }
  file->self_ = file;
  return file;
}

std::shared_ptr<MappedFile> MappedFile::from_bytes(std::string path, std::vector<std::uint8_t> bytes) {
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = std::move(path);
  file->size_ = bytes.size();
  file->owned_ = std::move(bytes);
  file->data_ = file->owned_.empty() ? nullptr : file->owned_.data();
  file->self_ = file;
  return file;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr && owned_.empty()) ::munmap(data_, size_);
}

Tensor MappedFile::view(std::size_t byte_offset, std::size_t bytes, DType dtype, const Shape& shape,
                        const Shape& strides, std::int64_t element_offset) const {
  WMA_CHECK(byte_offset <= size_ && bytes <= size_ - byte_offset, "[load] ", path_, ": bytes [", byte_offset, ", ",
            byte_offset + bytes, ") lie outside the file of ", size_, " bytes");
  auto storage = std::make_shared<Storage>();
  storage->bytes = bytes;
  storage->device = Device::CPU;
  std::uint8_t* p = data_ + byte_offset;
  if (reinterpret_cast<std::uintptr_t>(p) % dtype_size(dtype) == 0) {
    storage->data = p;
    storage->owner = self_.lock();
  } else {
    auto copy = std::shared_ptr<std::uint8_t[]>(new std::uint8_t[bytes == 0 ? 1 : bytes]);
    if (bytes > 0) std::memcpy(copy.get(), p, bytes);
    storage->data = copy.get();
    storage->owner = copy;
  }
  return Tensor(std::move(storage), shape, strides, element_offset, dtype);
}

}  // namespace wma::io
