// Read-only index of a zip archive in memory (the PyTorch checkpoint container): central
// directory with zip64 records, stored (uncompressed) entries only, local headers verified.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace wma::io {

struct ZipEntry {
  std::string name;
  std::uint64_t data_offset = 0;  // absolute offset of the entry's bytes in the archive
  std::uint64_t size = 0;
  std::uint32_t crc32 = 0;
};

// True when the bytes start like a zip archive.
bool looks_like_zip(const std::uint8_t* data, std::size_t size);

// Parses the central directory of the archive held in [data, data+size). `path` names the file in
// errors. Throws wma::Error for truncated or malformed archives and for compressed or encrypted
// entries (torch.save never compresses).
std::vector<ZipEntry> read_zip_index(const std::uint8_t* data, std::size_t size, const std::string& path);

std::uint32_t crc32(const std::uint8_t* data, std::size_t size);

}  // namespace wma::io
