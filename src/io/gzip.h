// gzip (RFC 1952) and DEFLATE (RFC 1951) decoding, so the engine reads OpenCLIP's
// `bpe_simple_vocab_16e6.txt.gz` (what Python's gzip.open does upstream) without zlib.
// Decoding only; errors throw wma::Error tagged "[gzip]".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace wma::io {

// Decodes a raw DEFLATE stream; `consumed` (optional) receives the bytes read. A stream that would decode to more
// than `max_output` bytes fails as soon as it passes the bound, so a decompression bomb costs at most that much.
std::vector<std::uint8_t> inflate_raw(const std::uint8_t* data, std::size_t size, std::size_t* consumed = nullptr,
                                      std::size_t max_output = SIZE_MAX);

// Decodes a gzip file image (all concatenated members), checking each member's CRC-32 and length.
std::vector<std::uint8_t> gunzip(const std::uint8_t* data, std::size_t size);

bool is_gzip(const std::uint8_t* data, std::size_t size);

// The file's bytes, gunzipped when the file starts with the gzip magic.
std::string read_file_maybe_gzip(const std::string& path);

}  // namespace wma::io
