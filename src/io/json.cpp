// JSON parser (recursive descent with a depth limit) and compact writer.
#include "io/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_set>

#include "core/error.h"
#include "io/utf8.h"

namespace wma::io::json {

namespace {

const char* kind_name(Value::Kind k) {
  switch (k) {
    case Value::Kind::Null: return "null";
    case Value::Kind::Bool: return "bool";
    case Value::Kind::Number: return "number";
    case Value::Kind::String: return "string";
    case Value::Kind::Array: return "array";
    case Value::Kind::Object: return "object";
  }
  return "?";
}

void expect_kind(const Value& v, Value::Kind k) {
  WMA_CHECK(v.kind() == k, "[json] expected a ", kind_name(k), ", got a ", kind_name(v.kind()));
}

}  // namespace

namespace detail {

class Parser {
 public:
  Parser(std::string_view text, const ParseOptions& options) : text_(text), options_(options) {}

  Value document() {
    skip_ws();
    Value v = value(0);
    skip_ws();
    if (pos_ != text_.size()) error("unexpected characters after the document");
    return v;
  }

  void object_members(const std::function<void(const std::string&, MemberReader&)>& visit) {
    skip_ws();
    if (peek() != '{') error("expected an object");
    ++pos_;
    std::unordered_set<std::string> keys;
    skip_ws();
    if (peek() == '}') {
      ++pos_;
    } else {
      for (;;) {
        skip_ws();
        if (peek() != '"') error("expected a string key");
        const std::string key = string();
        if (!keys.insert(key).second) error(str_cat("duplicate key ", quote(key)));
        skip_ws();
        expect(':');
        skip_ws();
        MemberReader member(*this);
        visit(key, member);
        if (!member.read_) value(1);
        skip_ws();
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        expect('}');
        break;
      }
    }
    skip_ws();
    if (pos_ != text_.size()) error("unexpected characters after the document");
  }

  Value member_value() { return value(1); }

  NumberArray numbers(std::size_t rank) {
    NumberArray out;
    out.shape.assign(rank, -1);
    std::vector<std::int64_t> position;
    nested_numbers(0, out, position);
    for (std::int64_t& size : out.shape) size = std::max<std::int64_t>(size, 0);  // below an empty array
    return out;
  }

 private:
  [[noreturn]] static void structure_error(const std::vector<std::int64_t>& position, const std::string& what) {
    std::string path;
    for (std::int64_t i : position) path += str_cat("[", i, "]");
    throw StructureError(path, what);
  }

  // What the next value is, for a structure error; a character no value starts with is a syntax error.
  const char* next_kind() {
    switch (peek()) {
      case '[': return "an array";
      case '{': return "an object";
      case '"': return "a string";
      case 't':
      case 'f': return "a boolean";
      case 'n': return "null";
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return "a number";
        error(at_end() ? "unexpected end of input" : str_cat("unexpected character '", peek(), "'"));
    }
  }

  void nested_numbers(std::size_t depth, NumberArray& out, std::vector<std::int64_t>& position) {
    if (depth == out.shape.size()) {
      if (peek() != '-' && !(peek() >= '0' && peek() <= '9'))
        structure_error(position, str_cat("must be a number, got ", next_kind()));
      const NumberToken t = number_token();
      if (!t.is_int && out.first_non_integer < 0) out.first_non_integer = static_cast<std::int64_t>(out.values.size());
      out.values.push_back(t.value);
      return;
    }
    if (peek() != '[') structure_error(position, str_cat("must be an array, got ", next_kind()));
    ++pos_;
    std::int64_t& size = out.shape[depth];
    std::int64_t n = 0;
    skip_ws();
    if (peek() == ']') {
      ++pos_;
    } else {
      position.push_back(0);
      for (;;) {
        if (size >= 0 && n == size) {
          position.pop_back();
          structure_error(position,
                          str_cat("has more than ", size, " entries, the size of the first array at its depth"));
        }
        position.back() = n;
        skip_ws();
        nested_numbers(depth + 1, out, position);
        ++n;
        skip_ws();
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        expect(']');
        break;
      }
      position.pop_back();
    }
    if (size < 0) size = n;
    if (n != size) structure_error(position, str_cat("has ", n, " entries, the first array at its depth ", size));
  }

  [[noreturn]] void error(const std::string& what) const {
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    fail("[json] line ", line, " column ", col, ": ", what);
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  void skip_ws() {
    while (!at_end() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  void expect(char c) {
    if (peek() != c || at_end()) error(str_cat("expected '", c, "'"));
    ++pos_;
  }

  void literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) error("invalid literal");
    pos_ += word.size();
  }

  Value value(int depth) {
    if (depth > options_.max_depth) error(str_cat("nesting deeper than ", options_.max_depth));
    if (at_end()) error("unexpected end of input");
    switch (peek()) {
      case '{': return object(depth);
      case '[': return array(depth);
      case '"': return Value(string());
      case 't': literal("true"); return Value(true);
      case 'f': literal("false"); return Value(false);
      case 'n': literal("null"); return Value(nullptr);
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return number();
        error(str_cat("unexpected character '", peek(), "'"));
    }
  }

  Value object(int depth) {
    expect('{');
    Object members;
    std::unordered_set<std::string> keys;  // a hash lookup: hostile bodies may hold millions of keys
    skip_ws();
    if (peek() == '}') {
      ++pos_;
      return Value(std::move(members));
    }
    for (;;) {
      skip_ws();
      if (peek() != '"') error("expected a string key");
      std::string key = string();
      if (!keys.insert(key).second) error(str_cat("duplicate key ", quote(key)));
      skip_ws();
      expect(':');
      skip_ws();
      members.emplace_back(std::move(key), value(depth + 1));
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect('}');
      return Value(std::move(members));
    }
  }

  Value array(int depth) {
    expect('[');
    Array items;
    skip_ws();
    if (peek() == ']') {
      ++pos_;
      return Value(std::move(items));
    }
    for (;;) {
      skip_ws();
      items.push_back(value(depth + 1));
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect(']');
      return Value(std::move(items));
    }
  }

  std::uint32_t hex4() {
    if (pos_ + 4 > text_.size()) error("truncated \\u escape");
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<std::uint32_t>(c - 'A' + 10);
      else error("invalid \\u escape");
    }
    return v;
  }

  std::string string() {
    expect('"');
    std::string out;
    for (;;) {
      if (at_end()) error("unterminated string");
      const unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) error("control character in string");
      if (c != '\\') {
        out += static_cast<char>(c);
        ++pos_;
        continue;
      }
      ++pos_;
      if (at_end()) error("unterminated escape");
      const char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp = hex4();
          if (cp >= 0xd800 && cp <= 0xdbff) {
            if (text_.substr(pos_, 2) != "\\u") error("unpaired surrogate in \\u escape");
            pos_ += 2;
            const std::uint32_t lo = hex4();
            if (lo < 0xdc00 || lo > 0xdfff) error("unpaired surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            error("unpaired surrogate in \\u escape");
          }
          append_utf8(out, cp);
          break;
        }
        default: error(str_cat("invalid escape '\\", e, "'"));
      }
    }
  }

  struct NumberToken {
    double value = 0;
    std::int64_t int_value = 0;
    bool is_int = false;  // written without fraction or exponent, and fits in int64
  };

  Value number() {
    const NumberToken t = number_token();
    return t.is_int ? Value(t.int_value) : Value(t.value);
  }

  NumberToken number_token() {
    const std::size_t start = pos_;
    bool integral = true;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') ++pos_;
    } else {
      error("invalid number");
    }
    if (peek() == '.') {
      integral = false;
      ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) error("invalid number: digit expected after '.'");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) error("invalid number: digit expected in exponent");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    const std::string_view token = text_.substr(start, pos_ - start);
    if (integral) {
      std::int64_t i = 0;
      const auto r = std::from_chars(token.data(), token.data() + token.size(), i);
      if (r.ec == std::errc() && r.ptr == token.data() + token.size()) return {static_cast<double>(i), i, true};
    }
    // strtod needs a terminated buffer; tokens are short.
    const std::string buf(token);
    char* end = nullptr;
    const double d = std::strtod(buf.c_str(), &end);
    if (end != buf.c_str() + buf.size()) error("invalid number");
    if (!std::isfinite(d)) error("number out of range");
    return {d, 0, false};
  }

  std::string_view text_;
  ParseOptions options_;
  std::size_t pos_ = 0;
};

}  // namespace detail

namespace {

void dump_to(const Value& v, std::string& out) {
  switch (v.kind()) {
    case Value::Kind::Null: out += "null"; break;
    case Value::Kind::Bool: out += v.as_bool() ? "true" : "false"; break;
    case Value::Kind::Number: {
      if (v.is_int()) {
        out += std::to_string(v.as_int());
        break;
      }
      const double d = v.as_number();
      WMA_CHECK(std::isfinite(d), "[json] cannot write the non-finite number ", d);
      // to_chars writes "-0", which reads back as the integer 0 and loses the sign.
      if (d == 0 && std::signbit(d)) {
        out += "-0.0";
        break;
      }
      char buf[32];
      const auto r = std::to_chars(buf, buf + sizeof buf, d);
      out.append(buf, r.ptr);
      break;
    }
    case Value::Kind::String: out += quote(v.as_string()); break;
    case Value::Kind::Array: {
      out += '[';
      bool first = true;
      for (const auto& item : v.as_array()) {
        if (!first) out += ',';
        first = false;
        dump_to(item, out);
      }
      out += ']';
      break;
    }
    case Value::Kind::Object: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : v.as_object()) {
        if (!first) out += ',';
        first = false;
        out += quote(key);
        out += ':';
        dump_to(item, out);
      }
      out += '}';
      break;
    }
  }
}

}  // namespace

bool Value::as_bool() const {
  expect_kind(*this, Kind::Bool);
  return bool_;
}

double Value::as_number() const {
  expect_kind(*this, Kind::Number);
  return number_;
}

std::int64_t Value::as_int() const {
  expect_kind(*this, Kind::Number);
  WMA_CHECK(is_int_, "[json] expected an integer, got ", number_);
  return int_;
}

const std::string& Value::as_string() const {
  expect_kind(*this, Kind::String);
  return string_;
}

const Array& Value::as_array() const {
  expect_kind(*this, Kind::Array);
  return array_;
}

Array& Value::as_array() {
  expect_kind(*this, Kind::Array);
  return array_;
}

const Object& Value::as_object() const {
  expect_kind(*this, Kind::Object);
  return object_;
}

Object& Value::as_object() {
  expect_kind(*this, Kind::Object);
  return object_;
}

const Value* Value::find(std::string_view key) const {
  if (kind_ != Kind::Object) return nullptr;
  for (const auto& m : object_)
    if (m.first == key) return &m.second;
  return nullptr;
}

const Value& Value::at(std::string_view key) const {
  expect_kind(*this, Kind::Object);
  const Value* v = find(key);
  WMA_CHECK(v != nullptr, "[json] missing key ", quote(key));
  return *v;
}

void Value::set(std::string key, Value value) {
  expect_kind(*this, Kind::Object);
  for (auto& m : object_) {
    if (m.first == key) {
      m.second = std::move(value);
      return;
    }
  }
  object_.emplace_back(std::move(key), std::move(value));
}

Value parse(std::string_view text, const ParseOptions& options) { return detail::Parser(text, options).document(); }

Value MemberReader::value() {
  WMA_CHECK(!read_, "[json] a member's value is read once");
  read_ = true;
  return parser_.member_value();
}

NumberArray MemberReader::numbers(std::size_t rank) {
  WMA_CHECK(!read_, "[json] a member's value is read once");
  read_ = true;
  return parser_.numbers(rank);
}

void read_object(std::string_view text, const std::function<void(const std::string&, MemberReader&)>& visit,
                 const ParseOptions& options) {
  detail::Parser(text, options).object_members(visit);
}

std::string dump(const Value& value) {
  std::string out;
  dump_to(value, out);
  return out;
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace wma::io::json
