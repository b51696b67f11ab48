// The HTTP/1.1 request framing of `wma serve` (RFC 9112), fed bytes as they arrive: the request line and
// headers within a size limit, then a body by Content-Length or chunked, never buffering more than the body
// limit. Anything ambiguous is refused rather than guessed, since requests come from the network: duplicate
// or malformed Content-Length, Content-Length with Transfer-Encoding, codings other than chunked.
// No sockets here (http_listener.h reads them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wma::app::serve {

struct HttpLimits {
  std::size_t max_head_bytes = 16u << 10;  // request line + headers, and chunked trailers (else 431)
  std::size_t max_body_bytes = 32u << 20;  // decoded body (else 413)
};

struct HttpRequest {
  std::string method, target;
  int minor_version = 1;                                     // HTTP/1.<minor_version>
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case, in arrival order
  // A vector, not a string: its reserve() allocates exactly what is asked (libstdc++'s string may double it),
  // so the buffer never exceeds the limit.
  std::vector<char> body;

  // The first header of that (lower-case) name, or nullptr.
  const std::string* header(std::string_view name) const;
  // The target without its query.
  std::string_view path() const;
  // HTTP/1.1 unless "Connection: close"; HTTP/1.0 connections are closed after one request.
  bool keep_alive() const;
};

class RequestReader {
 public:
  enum class State { Idle, Head, Body, Complete, Failed };

  explicit RequestReader(HttpLimits limits) : limits_(limits) {}

  // Consumes bytes of one request and returns how many: fewer than given once the request is complete (the
  // rest belongs to the next one) or refused.
  std::size_t feed(std::string_view data);

  State state() const { return state_; }
  // Whether any byte of a request has arrived (empty lines before a request line do not count).
  bool started() const { return state_ != State::Idle; }
  // The head has arrived with "Expect: 100-continue" and the body is still to come.
  bool wants_continue() const { return state_ == State::Body && expect_continue_; }
  // After Failed: the status to answer (400, 413, 431, 501, 505) and why.
  int error_status() const { return error_status_; }
  const std::string& error_message() const { return error_message_; }
  // The request so far: method, target and headers once the head has been parsed.
  const HttpRequest& request() const { return request_; }
  // Bytes held, for the listener's budget over all connections.
  std::size_t buffered_bytes() const { return head_.capacity() + line_.capacity() + request_.body.capacity(); }

  // After Complete: the request; the reader is then ready for the next one.
  HttpRequest take();

 private:
  enum class Chunk { Size, Data, DataEnd, Trailer };

  HttpLimits limits_;
  State state_ = State::Idle;
  HttpRequest request_;
  std::string head_;            // the raw head until its empty line
  std::size_t line_start_ = 0;  // where head_'s current line starts
  bool chunked_ = false;
  bool expect_continue_ = false;
  std::uint64_t left_ = 0;  // body bytes still to come (Content-Length), or of the current chunk
  Chunk chunk_ = Chunk::Size;
  std::string line_;  // the current chunk-size or trailer line
  std::size_t trailer_bytes_ = 0;
  int error_status_ = 0;
  std::string error_message_;

  std::size_t feed_head(std::string_view data);
  std::size_t feed_body(std::string_view data);
  std::size_t feed_chunked(std::string_view data);
  void parse_head();
  void parse_chunk_size();
  void append_body(std::string_view data, std::size_t capacity_limit);
  void fail(int status, std::string message);
};

// The status line's reason phrase ("Content Too Large" for 413).
const char* http_reason(int status);

}  // namespace wma::app::serve
