// A small JSON reader and writer (RFC 8259): safetensors headers, configuration and the HTTP
// server's request bodies (read member by member, big number arrays straight into buffers). Objects keep
// their key order; integers that fit in int64 stay exact.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/error.h"

namespace wma::io::json {

class Value;
using Array = std::vector<Value>;
using Object = std::vector<std::pair<std::string, Value>>;  // in document order, keys unique

class Value {
 public:
  enum class Kind { Null, Bool, Number, String, Array, Object };

  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool b) : kind_(Kind::Bool), bool_(b) {}
  Value(double d) : kind_(Kind::Number), number_(d) {}
  template <typename T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) Value(T i) : Value(static_cast<std::int64_t>(i)) {}
  Value(std::int64_t i) : kind_(Kind::Number), number_(static_cast<double>(i)), int_(i), is_int_(true) {}
  Value(std::string s) : kind_(Kind::String), string_(std::move(s)) {}
  Value(const char* s) : Value(std::string(s)) {}
  Value(Array a) : kind_(Kind::Array), array_(std::move(a)) {}
  Value(Object o) : kind_(Kind::Object), object_(std::move(o)) {}

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::Null; }
  bool is_number() const { return kind_ == Kind::Number; }
  // A number written without fraction or exponent that fits in int64.
  bool is_int() const { return kind_ == Kind::Number && is_int_; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_array() const { return kind_ == Kind::Array; }
  bool is_object() const { return kind_ == Kind::Object; }

  // Typed accessors throw wma::Error when the kind differs.
  bool as_bool() const;
  double as_number() const;
  std::int64_t as_int() const;
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  // Object member lookup; null when absent (or when this is not an object).
  const Value* find(std::string_view key) const;
  // Member access that throws naming the key when absent.
  const Value& at(std::string_view key) const;
  // Appends or replaces a member of an object.
  void set(std::string key, Value value);

 private:
  Kind kind_ = Kind::Null;
  bool bool_ = false;
  double number_ = 0.0;
  std::int64_t int_ = 0;
  bool is_int_ = false;
  std::string string_;
  Array array_;
  Object object_;
};

struct ParseOptions {
  int max_depth = 256;  // nesting limit, so hostile input cannot exhaust the stack
};

// Parses one JSON document (surrounding whitespace allowed). Throws wma::Error
// "[json] line L column C: problem" on malformed input.
Value parse(std::string_view text, const ParseOptions& options = {});

// A nested array of numbers read straight into one buffer, without a Value per element (a request body may
// carry an image as [O][3][H][W], millions of numbers).
struct NumberArray {
  std::vector<std::int64_t> shape;      // sizes per depth, outermost first (0 below an empty array)
  std::vector<double> values;           // row-major
  std::int64_t first_non_integer = -1;  // index of the first value written with a fraction or an exponent
};

// A well-formed document whose structure is not what the reader asked for (a ragged or too shallow array, a
// string among numbers). `path` is the position, e.g. "[1][0]".
class StructureError : public Error {
 public:
  StructureError(std::string path, const std::string& what) : Error(what), path_(std::move(path)) {}
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

namespace detail {
class Parser;
}

// How read_object's caller reads one member's value (at most once; an unread value is parsed and dropped).
class MemberReader {
 public:
  Value value();
  // A `rank`-deep nested array of numbers, every array at one depth of one size; StructureError otherwise.
  NumberArray numbers(std::size_t rank);

 private:
  friend class detail::Parser;
  explicit MemberReader(detail::Parser& parser) : parser_(parser) {}
  detail::Parser& parser_;
  bool read_ = false;
};

// Reads a document that must be an object, member by member in document order, calling `visit` for each.
// Syntax errors (and a document that is not an object) throw Error as parse() does.
void read_object(std::string_view text, const std::function<void(const std::string& key, MemberReader& member)>& visit,
                 const ParseOptions& options = {});

// Compact serialisation; non-finite numbers are refused.
std::string dump(const Value& value);
// `s` as a quoted JSON string literal.
std::string quote(std::string_view s);

}  // namespace wma::io::json
