// A small JSON reader and writer (RFC 8259): safetensors headers, configuration and the HTTP
// server's request bodies. Objects keep their key order; integers that fit in int64 stay exact.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

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
    requires(std::is_integral_v<T> && !std::is_same_v<T, bool>)
  Value(T i) : Value(static_cast<std::int64_t>(i)) {}
  Value(std::int64_t i) : kind_(Kind::Number), number_(static_cast<double>(i)), int_(i), is_int_(true) {}
  Value(std::string s) : kind_(Kind::String), string_(std::move(s)) {}
  Value(const char* s) : Value(std::string(s)) {}
  Value(Array a) : kind_(Kind::Array), array_(std::move(a)) {}
  Value(Object o) : kind_(Kind::Object), object_(std::move(o)) {}

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::Null; }
  bool is_bool() const { return kind_ == Kind::Bool; }
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

// Compact serialisation; non-finite numbers are refused.
std::string dump(const Value& value);
// `s` as a quoted JSON string literal.
std::string quote(std::string_view s);

}  // namespace wma::io::json
