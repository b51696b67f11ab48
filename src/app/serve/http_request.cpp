// HTTP/1.1 request framing for `wma serve`.
#include "app/serve/http_request.h"

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace wma::app::serve {
namespace {

// Extensions are the only reason for a long chunk-size line; we use none.
constexpr std::size_t kMaxChunkSizeLine = 1024;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

// RFC 9110 5.6.2 token characters (method and header names).
bool is_tchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Shown in messages without letting a hostile value flood the log.
std::string excerpt(std::string_view s) {
  std::string out(s.substr(0, 40));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return s.size() > 40 ? out + "..." : out;
}

}  // namespace

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (n == name) return &v;
  return nullptr;
}

std::string_view HttpRequest::path() const {
  const std::string_view t(target);
  return t.substr(0, t.find('?'));
}

bool HttpRequest::keep_alive() const {
  if (minor_version == 0) return false;
  for (const auto& [name, value] : headers) {
    if (name != "connection") continue;
    std::string_view rest(value);
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      if (iequals(trim(rest.substr(0, comma)), "close")) return false;
      rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
    }
  }
  return true;
}

std::size_t RequestReader::feed(std::string_view data) {
  std::size_t used = 0;
  while (used < data.size() && (state_ == State::Idle || state_ == State::Head || state_ == State::Body)) {
    const std::string_view rest = data.substr(used);
    used += state_ != State::Body ? feed_head(rest) : chunked_ ? feed_chunked(rest) : feed_body(rest);
  }
  return used;
}

HttpRequest RequestReader::take() {
  HttpRequest out = std::move(request_);
  *this = RequestReader(limits_);
  return out;
}

void RequestReader::fail(int status, std::string message) {
  state_ = State::Failed;
  error_status_ = status;
  error_message_ = std::move(message);
}

std::size_t RequestReader::feed_head(std::string_view data) {
  for (std::size_t i = 0; i < data.size(); ++i) {
    const char c = data[i];
    // RFC 9112 2.2: empty lines before a request line are ignored.
    if (head_.empty() && (c == '\r' || c == '\n')) continue;
    if (head_.size() == limits_.max_head_bytes) {
      fail(431, str_cat("the request line and headers exceed ", limits_.max_head_bytes, " bytes"));
      return i;
    }
    head_.push_back(c);
    state_ = State::Head;
    if (c != '\n') continue;
    const std::string_view line(head_.data() + line_start_, head_.size() - 1 - line_start_);
    if (line.empty() || line == "\r") {
      parse_head();
      return i + 1;
    }
    line_start_ = head_.size();
  }
  return data.size();
}

void RequestReader::parse_head() {
  std::vector<std::string_view> lines;
  for (std::string_view rest(head_); !rest.empty();) {
    const std::size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    rest.remove_prefix(end + 1);
  }
  lines.pop_back();  // the empty line that ends the head

  const std::string_view first = lines.front();
  const std::size_t a = first.find(' '), b = a == std::string_view::npos ? a : first.find(' ', a + 1);
  if (b == std::string_view::npos || first.find(' ', b + 1) != std::string_view::npos)
    return fail(400, str_cat("malformed request line '", excerpt(first), "'"));
  const std::string_view method = first.substr(0, a), target = first.substr(a + 1, b - a - 1),
                         version = first.substr(b + 1);
  if (!is_token(method)) return fail(400, str_cat("malformed method '", excerpt(method), "'"));
  if (target.empty() || std::any_of(target.begin(), target.end(),
                                    [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }))
    return fail(400, str_cat("malformed request target '", excerpt(target), "'"));
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !is_digit(version[5]) || version[6] != '.' ||
      !is_digit(version[7]))
    return fail(400, str_cat("malformed HTTP version '", excerpt(version), "'"));
  if (version[5] != '1') return fail(505, str_cat(excerpt(version), " is not supported (HTTP/1.0 and 1.1 are)"));
  request_.method = method;
  request_.target = target;
  request_.minor_version = version[7] == '0' ? 0 : 1;

  for (std::size_t k = 1; k < lines.size(); ++k) {
    const std::string_view line = lines[k];
    // Obsolete line folding (RFC 9112 5.2) is refused: proxies disagree on it.
    if (line.front() == ' ' || line.front() == '\t') return fail(400, "folded header lines are not accepted");
    const std::size_t colon = line.find(':');
    // Whitespace before the colon is refused too (RFC 9112 5.1), which is_token covers.
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
      return fail(400, str_cat("malformed header line '", excerpt(line), "'"));
    const std::string_view value = trim(line.substr(colon + 1));
    if (std::any_of(value.begin(), value.end(),
                    [](char c) { return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f; }))
      return fail(400, str_cat("a control character in header ", line.substr(0, colon)));
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(), lower);
    request_.headers.emplace_back(std::move(name), std::string(value));
  }
  head_ = std::string();
  line_start_ = 0;

  // Where two parties could read the body's length differently (request smuggling), refuse.
  int lengths = 0, encodings = 0;
  std::string_view length, encoding;
  for (const auto& [name, value] : request_.headers) {
    if (name == "content-length") ++lengths, length = value;
    if (name == "transfer-encoding") ++encodings, encoding = value;
    if (name == "expect" && iequals(value, "100-continue")) expect_continue_ = true;
  }
  if (lengths > 1) return fail(400, "duplicate Content-Length headers");
  if (encodings > 0) {
    if (lengths > 0) return fail(400, "both Content-Length and Transfer-Encoding (the body's length is ambiguous)");
    if (request_.minor_version == 0) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (encodings > 1 || !iequals(encoding, "chunked"))
      return fail(501, str_cat("Transfer-Encoding '", excerpt(encoding), "' is not supported (chunked is)"));
    chunked_ = true;
    state_ = State::Body;
    return;
  }
  if (lengths == 0) {
    state_ = State::Complete;
    return;
  }
  if (length.empty()) return fail(400, "empty Content-Length");
  std::uint64_t declared = 0;
  for (const char c : length) {
    if (!is_digit(c)) return fail(400, str_cat("malformed Content-Length '", excerpt(length), "'"));
    // Past 2^59 the value is over any limit anyway; stop before it could overflow.
    if (declared < (std::uint64_t{1} << 59)) declared = declared * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (declared > limits_.max_body_bytes)
    return fail(413, str_cat("the body (Content-Length ", excerpt(length), ") exceeds ", limits_.max_body_bytes,
                             " bytes (--max_body_bytes)"));
  left_ = declared;
  state_ = declared > 0 ? State::Body : State::Complete;
}

void RequestReader::append_body(std::string_view data, std::size_t capacity_limit) {
  std::vector<char>& body = request_.body;
  const std::size_t need = body.size() + data.size();
  if (need > body.capacity()) body.reserve(std::min(capacity_limit, std::max(need, 2 * body.capacity())));
  body.insert(body.end(), data.begin(), data.end());
}

std::size_t RequestReader::feed_body(std::string_view data) {
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, data.size()));
  append_body(data.substr(0, n), request_.body.size() + static_cast<std::size_t>(left_));
  left_ -= n;
  if (left_ == 0) state_ = State::Complete;
  return n;
}

std::size_t RequestReader::feed_chunked(std::string_view data) {
  std::size_t i = 0;
  while (i < data.size() && state_ == State::Body) {
    if (chunk_ == Chunk::Data) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, data.size() - i));
      append_body(data.substr(i, n), limits_.max_body_bytes);
      i += n;
      left_ -= n;
      if (left_ == 0) chunk_ = Chunk::DataEnd;
      continue;
    }
    const char c = data[i++];
    if (chunk_ == Chunk::DataEnd) {
      if (c == '\r' && line_.empty()) {
        line_.push_back(c);
      } else if (c == '\n') {
        line_.clear();
        chunk_ = Chunk::Size;
      } else {
        fail(400, "a chunk's data is not followed by CRLF (its size is wrong)");
      }
      continue;
    }
    if (c != '\n') {
      if (chunk_ == Chunk::Size && line_.size() >= kMaxChunkSizeLine) {
        fail(400, str_cat("a chunk-size line longer than ", kMaxChunkSizeLine, " bytes"));
      } else if (chunk_ == Chunk::Trailer && trailer_bytes_ + line_.size() >= limits_.max_head_bytes) {
        fail(431, str_cat("the trailers exceed ", limits_.max_head_bytes, " bytes"));
      } else {
        line_.push_back(c);
      }
      continue;
    }
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (chunk_ == Chunk::Size) {
      parse_chunk_size();
    } else if (line_.empty()) {
      state_ = State::Complete;  // trailers are read and dropped: nothing here uses them
    } else {
      trailer_bytes_ += line_.size();
    }
    line_.clear();
  }
  return i;
}

void RequestReader::parse_chunk_size() {
  const std::uint64_t room = limits_.max_body_bytes - request_.body.size();
  std::uint64_t size = 0;
  std::size_t k = 0;
  for (; k < line_.size() && hex_value(line_[k]) >= 0; ++k) {
    const auto digit = static_cast<std::uint64_t>(hex_value(line_[k]));
    // Refused as soon as the decoded body would pass the limit, before any of the chunk is read.
    if (size > (std::numeric_limits<std::uint64_t>::max() >> 4) || size * 16 + digit > room)
      return fail(413, str_cat("the chunked body exceeds ", limits_.max_body_bytes, " bytes (--max_body_bytes)"));
    size = size * 16 + digit;
  }
  const std::string_view rest = std::string_view(line_).substr(k);
  if (k == 0 || !(rest.empty() || rest.front() == ';' || rest.front() == ' ' || rest.front() == '\t'))
    return fail(400, str_cat("malformed chunk size '", excerpt(line_), "'"));
  left_ = size;
  chunk_ = size > 0 ? Chunk::Data : Chunk::Trailer;
}

const char* http_reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 422: return "Unprocessable Content";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
  }
  return "Unknown";
}

}  // namespace wma::app::serve
