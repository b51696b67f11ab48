// libFuzzer target: the bytes of one `wma serve` connection through its request reader, fed three ways (in one
// piece, byte by byte, and in pieces whose lengths the input picks), since sockets deliver them in any split.
// Every way must frame the same requests and end in the same state, and the reader's buffers must stay within
// the limits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "app/serve/http_request.h"

namespace {

using wma::app::serve::HttpLimits;
using wma::app::serve::RequestReader;

// Small limits, so that short inputs reach the 413 and 431 paths.
constexpr HttpLimits kLimits{.max_head_bytes = 512, .max_body_bytes = 2048};

enum class Split { Whole, Bytes, InputPicked };

std::size_t piece_length(std::string_view rest, Split split) {
  switch (split) {
    case Split::Whole: return rest.size();
    case Split::Bytes: return 1;
    case Split::InputPicked: break;
  }
  return std::min<std::size_t>(rest.size(), 1 + static_cast<unsigned char>(rest.front()) % 13);
}

// What the connection saw: each request framed, then the final state (with the status when refused).
std::string frame(std::string_view input, Split split) {
  RequestReader reader(kLimits);
  std::string events;
  std::string_view rest = input;
  while (!rest.empty() && reader.state() != RequestReader::State::Failed) {
    std::string_view piece = rest.substr(0, piece_length(rest, split));
    rest.remove_prefix(piece.size());
    while (!piece.empty() && reader.state() != RequestReader::State::Failed) {
      piece.remove_prefix(reader.feed(piece));
      if (reader.request().body.capacity() > kLimits.max_body_bytes ||
          reader.buffered_bytes() > 4 * (kLimits.max_head_bytes + 1024) + kLimits.max_body_bytes)
        std::abort();
      if (reader.state() != RequestReader::State::Complete) continue;
      const auto request = reader.take();
      events += request.method + ' ' + request.target + ' ' + std::to_string(request.minor_version) + '\n';
      for (const auto& [name, value] : request.headers) events += name + ':' + value + '\n';
      events += std::string(request.body.begin(), request.body.end()) + '\n';
    }
  }
  return events + "state " + std::to_string(static_cast<int>(reader.state())) + ' ' +
         std::to_string(reader.error_status());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string whole = frame(input, Split::Whole);
  if (frame(input, Split::Bytes) != whole || frame(input, Split::InputPicked) != whole) std::abort();
  return 0;
}
