// Errors carry their context (op, file, key) in the message; library code throws,
// only the CLI turns an Error into an exit code.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace wma {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

template <typename... Args>
std::string str_cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

template <typename... Args>
[[noreturn]] void fail(Args&&... args) {
  throw Error(str_cat(std::forward<Args>(args)...));
}

}  // namespace wma

// WMA_CHECK(cond, "[op] message ", value, ...) throws wma::Error with the streamed message.
#define WMA_CHECK(cond, ...)               \
  do {                                     \
    if (!(cond)) ::wma::fail(__VA_ARGS__); \
  } while (0)
