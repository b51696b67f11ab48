// DEFLATE (RFC 1951) encoding in a zlib stream (RFC 1950), for the PNGs we write, without a zlib dependency:
// LZ77 over a 32 KiB window (hash chains, greedy matching) coded with the fixed Huffman code, each block stored
// verbatim instead when that is smaller (noise-like video frames). io/gzip.h decodes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace wma::io {

std::vector<std::uint8_t> zlib_compress(const std::uint8_t* data, std::size_t size);

std::uint32_t adler32(const std::uint8_t* data, std::size_t size);

}  // namespace wma::io
