// YAML subset reader for upstream's OmegaConf configs. Parsing follows PyYAML's safe loader
// for the constructs those files use; interpolations are resolved after parsing, and an
// unresolvable one is only reported when read (OmegaConf resolves lazily, and upstream's
// configs carry a dead ${...action_unet_config...} reference in normalization_config).
#include "io/yaml.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <set>
#include <string_view>

#include "core/error.h"
#include "io/utf8.h"

namespace wma::io {

namespace {

// The whole of `digits` as a number in `base`, without sign, space or prefix and without wrapping: std::stoul
// would take "-1" or "1z" and throw std::invalid_argument or std::out_of_range where a message is due.
bool parse_unsigned(std::string_view digits, int base, std::uint64_t* out) {
  const char* end = digits.data() + digits.size();
  const auto [ptr, ec] = std::from_chars(digits.data(), end, *out, base);
  return ec == std::errc() && ptr == end;
}

}  // namespace

class YamlBuilder {
 public:
  YamlBuilder(std::string_view text, std::string source) : source_(std::move(source)) { split_lines(text); }

  YamlNode build() {
    YamlNode root;
    if (!lines_.empty()) {
      WMA_CHECK(lines_[0].indent == 0, where(0), "the document must start at column 0");
      root = parse_block(0, "");
      WMA_CHECK(pos_ == lines_.size(), where(pos_), "unexpected indentation");
    }
    std::set<std::string> active;
    resolve_tree(root, root, active, 0);
    return root;
  }

 private:
  // Parsing, resolution, copying and destruction all recurse once per level, so a hostile file could nest
  // deep enough (`[[[[...`, or ${} chains) to overflow the stack; upstream's configs nest far less.
  static constexpr int kMaxDepth = 256;
  // Whole-node interpolations copy their target per use, so a few lines can ask for gigabytes
  // (b: [${a},${a}], c: [${b},${b}], ...); each reference also walks its target once.
  // The fuzz build (fuzz/CMakeLists.txt) lowers both, so that inputs expanding to near the limits cost its
  // executions milliseconds; the checks are the same code.
#ifndef WMA_YAML_MAX_EXPANDED_BYTES
#define WMA_YAML_MAX_EXPANDED_BYTES (std::uint64_t{64} << 20)
#endif
#ifndef WMA_YAML_MAX_RESOLVE_VISITS
#define WMA_YAML_MAX_RESOLVE_VISITS (std::uint64_t{1} << 24)
#endif
  static constexpr std::uint64_t kMaxExpandedBytes = WMA_YAML_MAX_EXPANDED_BYTES;
  static constexpr std::uint64_t kMaxResolveVisits = WMA_YAML_MAX_RESOLVE_VISITS;

  struct Nesting {
    int& depth;
    ~Nesting() { --depth; }
  };
  Nesting nest(std::size_t line) {
    WMA_CHECK(++depth_ <= kMaxDepth, where(line), "collections nested deeper than ", kMaxDepth, " levels");
    return Nesting{depth_};
  }

  struct Line {
    int indent;
    std::string text;
    int number;
  };

  std::string where(std::size_t i) const {
    const int n = i < lines_.size() ? lines_[i].number : (lines_.empty() ? 1 : lines_.back().number + 1);
    return str_cat("[yaml] ", source_, ":", n, ": ");
  }

  static std::string strip_comment(const std::string& s) {
    char quote = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
      const char c = s[i];
      if (quote != 0) {
        if (c == '\\' && quote == '"') ++i;
        else if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        if (i == 0 || s[i - 1] == ' ' || s[i - 1] == '[' || s[i - 1] == ',' || s[i - 1] == '{' || s[i - 1] == '-' ||
            s[i - 1] == ':')
          quote = c;
      } else if (c == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
        return s.substr(0, i);
      }
    }
    return s;
  }

  void split_lines(std::string_view text) {
    int number = 0;
    std::size_t pos = 0;
    while (pos <= text.size()) {
      std::size_t end = text.find('\n', pos);
      if (end == std::string_view::npos) end = text.size();
      std::string line(text.substr(pos, end - pos));
      pos = end + 1;
      ++number;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      line = strip_comment(line);
      while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.pop_back();
      std::size_t indent = line.find_first_not_of(' ');
      if (indent == std::string::npos) continue;
      WMA_CHECK(line[indent] != '\t', "[yaml] ", source_, ":", number, ": tab in indentation");
      const std::string content = line.substr(indent);
      if (content == "---" || content == "...") continue;
      WMA_CHECK(content[0] != '%', "[yaml] ", source_, ":", number, ": directives are not supported");
      lines_.push_back({static_cast<int>(indent), content, number});
      if (end == text.size()) break;
    }
  }

  static bool is_item(const std::string& t) { return t == "-" || t.rfind("- ", 0) == 0; }

  static std::string child_path(const std::string& parent, const std::string& key) {
    return parent.empty() ? key : parent + "." + key;
  }

  YamlNode parse_block(int indent, const std::string& path) {
    const Nesting level = nest(pos_);
    return is_item(lines_[pos_].text) ? parse_sequence(indent, path) : parse_mapping(indent, path);
  }

  // The value after "key:" or "- ": inline, a nested block on the following lines, or null.
  YamlNode parse_value(const std::string& inline_text, int indent, bool sequence_parent, const std::string& path) {
    if (!inline_text.empty()) return parse_inline(inline_text, path, pos_ - 1);
    if (pos_ < lines_.size()) {
      const Line& next = lines_[pos_];
      // PyYAML accepts a block sequence at the same indentation as its mapping key.
      if (next.indent > indent || (!sequence_parent && next.indent == indent && is_item(next.text)))
        return parse_block(next.indent, path);
    }
    return make_scalar("", false, path);
  }

  YamlNode parse_mapping(int indent, const std::string& path) {
    YamlNode node;
    node.kind_ = YamlNode::Kind::Mapping;
    node.path_ = path;
    while (pos_ < lines_.size() && lines_[pos_].indent == indent && !is_item(lines_[pos_].text)) {
      const std::size_t at = pos_++;
      const std::string& t = lines_[at].text;
      const std::size_t colon = find_mapping_colon(t);
      WMA_CHECK(colon != std::string::npos, where(at), "expected 'key: value', got '", t, "'");
      std::string key = trim(t.substr(0, colon));
      if (!key.empty() && (key[0] == '"' || key[0] == '\'')) {
        std::size_t used = 0;
        key = parse_quoted(key, 0, &used, at);
        WMA_CHECK(used == trim(t.substr(0, colon)).size(), where(at), "junk after quoted key");
      }
      WMA_CHECK(node.find(key) == nullptr, where(at), "duplicate key '", key, "'");
      const std::string rest = trim(t.substr(colon + 1));
      YamlNode child = parse_value(rest, indent, false, child_path(path, key));
      node.items_.emplace_back(key, std::move(child));
    }
    if (pos_ < lines_.size() && lines_[pos_].indent > indent) fail(where(pos_), "unexpected indentation");
    return node;
  }

  YamlNode parse_sequence(int indent, const std::string& path) {
    YamlNode node;
    node.kind_ = YamlNode::Kind::Sequence;
    node.path_ = path;
    while (pos_ < lines_.size() && lines_[pos_].indent == indent && is_item(lines_[pos_].text)) {
      Line& line = lines_[pos_];
      const std::string item_path = str_cat(path, "[", node.elements_.size(), "]");
      const std::size_t offset = line.text.find_first_not_of(' ', 1);
      if (offset == std::string::npos) {
        ++pos_;
        node.elements_.push_back(parse_value("", indent, true, item_path));
        continue;
      }
      const std::string content = line.text.substr(offset);
      if (is_item(content) || find_mapping_colon(content) != std::string::npos) {
        // "- key: v" / "- - x": the item is a block starting at the content's column.
        line.indent = indent + static_cast<int>(offset);
        line.text = content;
        node.elements_.push_back(parse_block(line.indent, item_path));
      } else {
        ++pos_;
        node.elements_.push_back(parse_inline(content, item_path, pos_ - 1));
      }
    }
    if (pos_ < lines_.size() && lines_[pos_].indent > indent) fail(where(pos_), "unexpected indentation");
    return node;
  }

  // The ':' ending a mapping key: outside quotes and brackets, followed by a space or the end.
  static std::size_t find_mapping_colon(const std::string& t) {
    if (t.empty() || t[0] == '[' || t[0] == '{') return std::string::npos;
    char quote = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
      const char c = t[i];
      if (quote != 0) {
        if (c == '\\' && quote == '"') ++i;
        else if (c == quote) quote = 0;
      } else if ((c == '"' || c == '\'') && i == 0) {
        quote = c;
      } else if (c == ':' && (i + 1 == t.size() || t[i + 1] == ' ')) {
        return i;
      }
    }
    return std::string::npos;
  }

  static std::string trim(const std::string& s) {
    const std::size_t b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
  }

  // A quoted scalar starting at s[start]; *used receives the characters consumed.
  std::string parse_quoted(const std::string& s, std::size_t start, std::size_t* used, std::size_t line) const {
    const char q = s[start];
    std::string out;
    std::size_t i = start + 1;
    for (;; ++i) {
      WMA_CHECK(i < s.size(), where(line), "unterminated quoted string (multi-line scalars are not supported)");
      const char c = s[i];
      if (q == '\'') {
        if (c == '\'') {
          if (i + 1 < s.size() && s[i + 1] == '\'') {
            out.push_back('\'');
            ++i;
            continue;
          }
          break;
        }
        out.push_back(c);
        continue;
      }
      if (c == '"') break;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      WMA_CHECK(++i < s.size(), where(line), "dangling escape");
      const char e = s[i];
      switch (e) {
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        case '0': out.push_back('\0'); break;
        case '\\': out.push_back('\\'); break;
        case '"': out.push_back('"'); break;
        case '/': out.push_back('/'); break;
        case ' ': out.push_back(' '); break;
        case 'x':
        case 'u':
        case 'U': {
          const int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          std::uint64_t code = 0;
          WMA_CHECK(i + digits < s.size() && parse_unsigned(std::string_view(s).substr(i + 1, digits), 16, &code),
                    where(line), "\\", e, " needs ", digits, " hex digits");
          WMA_CHECK(code <= 0x10FFFF, where(line), "\\", e, " escape past U+10FFFF");
          append_utf8(out, static_cast<std::uint32_t>(code));
          i += digits;
          break;
        }
        default: fail(where(line), "unsupported escape \\", e);
      }
    }
    *used = i + 1 - start;
    return out;
  }

  YamlNode parse_inline(const std::string& text, const std::string& path, std::size_t line) {
    const char c = text[0];
    WMA_CHECK(c != '|' && c != '>', where(line), "block scalars are not supported");
    WMA_CHECK(c != '&' && c != '*' && c != '!', where(line), "anchors, aliases and tags are not supported");
    std::size_t i = 0;
    YamlNode node = parse_flow(text, i, path, line, c == '[' || c == '{');
    while (i < text.size() && text[i] == ' ') ++i;
    WMA_CHECK(i == text.size(), where(line), "unexpected '", text.substr(i), "' after the value");
    return node;
  }

  // One value at s[i]; `in_flow` stops plain scalars at flow indicators.
  YamlNode parse_flow(const std::string& s, std::size_t& i, const std::string& path, std::size_t line, bool in_flow) {
    auto skip = [&] {
      while (i < s.size() && s[i] == ' ') ++i;
    };
    skip();
    WMA_CHECK(i < s.size() || in_flow, where(line), "missing value");
    if (i < s.size() && (s[i] == '[' || s[i] == '{')) {
      const Nesting level = nest(line);
      const char close = s[i] == '[' ? ']' : '}';
      YamlNode node;
      node.kind_ = close == ']' ? YamlNode::Kind::Sequence : YamlNode::Kind::Mapping;
      node.path_ = path;
      ++i;
      skip();
      if (i < s.size() && s[i] == close) {
        ++i;
        return node;
      }
      for (;;) {
        if (close == ']') {
          node.elements_.push_back(parse_flow(s, i, str_cat(path, "[", node.elements_.size(), "]"), line, true));
        } else {
          skip();
          std::size_t colon = i;
          while (colon < s.size() && s[colon] != ':') ++colon;
          WMA_CHECK(colon < s.size(), where(line), "flow mapping entry without ':'");
          const std::string key = trim(s.substr(i, colon - i));
          i = colon + 1;
          node.items_.emplace_back(key, parse_flow(s, i, child_path(path, key), line, true));
        }
        skip();
        WMA_CHECK(i < s.size(), where(line), "unterminated flow collection (multi-line flow is not supported)");
        if (s[i] == ',') {
          ++i;
          continue;
        }
        WMA_CHECK(s[i] == close, where(line), "expected ',' or '", close, "' in flow collection");
        ++i;
        return node;
      }
    }
    if (i < s.size() && (s[i] == '"' || s[i] == '\'')) {
      std::size_t used = 0;
      std::string v = parse_quoted(s, i, &used, line);
      i += used;
      return make_scalar(v, true, path);
    }
    const std::size_t start = i;
    while (i < s.size()) {
      if (s.compare(i, 2, "${") == 0) {  // an interpolation may hold flow indicators
        const std::size_t close = s.find('}', i);
        WMA_CHECK(close != std::string::npos, where(line), "unterminated ${");
        i = close + 1;
        continue;
      }
      if (in_flow && (s[i] == ',' || s[i] == ']' || s[i] == '}')) break;
      ++i;
    }
    return make_scalar(trim(s.substr(start, i - start)), false, path);
  }

  // PyYAML's YAML 1.1 implicit resolvers, with OmegaConf's float rule (1e-4 is a float), as hand-written
  // matchers: std::regex recursed once per character (a long scalar overflowed the stack) and was most of a
  // parse's time.
  static bool is_bool_text(std::string_view t) {
    static constexpr std::string_view kWords[] = {"yes",   "Yes",   "YES",   "no", "No", "NO", "true", "True", "TRUE",
                                                  "false", "False", "FALSE", "on", "On", "ON", "off",  "Off",  "OFF"};
    return std::find(std::begin(kWords), std::end(kWords), t) != std::end(kWords);
  }

  // Whether t[i..] is non-empty and every character satisfies `ok`.
  template <typename Pred>
  static bool all_of_from(std::string_view t, std::size_t i, Pred ok) {
    return i < t.size() && std::all_of(t.begin() + static_cast<std::ptrdiff_t>(i), t.end(), ok);
  }
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }
  static bool is_digit_(char c) { return is_digit(c) || c == '_'; }

  // [-+]?0b[0-1_]+ | [-+]?0[0-7_]+ | [-+]?(0|[1-9][0-9_]*) | [-+]?0x[0-9a-fA-F_]+
  static bool is_int_text(std::string_view t) {
    if (!t.empty() && (t[0] == '-' || t[0] == '+')) t.remove_prefix(1);
    if (t.empty()) return false;
    if (t[0] != '0') return is_digit(t[0]) && (t.size() == 1 || all_of_from(t, 1, is_digit_));
    if (t.size() == 1) return true;
    if (t[1] == 'b') return all_of_from(t, 2, [](char c) { return c == '0' || c == '1' || c == '_'; });
    if (t[1] == 'x')
      return all_of_from(t, 2, [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) || c == '_'; });
    return all_of_from(t, 1, [](char c) { return (c >= '0' && c <= '7') || c == '_'; });
  }

  // Consumes [eE][-+]?[0-9]+ at t[i..] (the sign required when `sign_required`); false if it is not there.
  static bool consume_exponent(std::string_view t, std::size_t& i, bool sign_required) {
    if (i >= t.size() || (t[i] != 'e' && t[i] != 'E')) return false;
    std::size_t j = i + 1;
    if (j < t.size() && (t[j] == '-' || t[j] == '+')) ++j;
    else if (sign_required) return false;
    const std::size_t digits = j;
    while (j < t.size() && is_digit(t[j])) ++j;
    if (j == digits) return false;
    i = j;
    return true;
  }

  // [-+]?[0-9][0-9_]*\.[0-9_]*([eE][-+]?[0-9]+)? | [-+]?[0-9][0-9_]*[eE][-+]?[0-9]+ |
  // \.[0-9_]+([eE][-+][0-9]+)? | [-+]?\.(inf|Inf|INF) | \.(nan|NaN|NAN)
  static bool is_float_text(std::string_view t) {
    if (t == ".nan" || t == ".NaN" || t == ".NAN") return true;
    const bool signed_ = !t.empty() && (t[0] == '-' || t[0] == '+');
    if (signed_) t.remove_prefix(1);
    if (t == ".inf" || t == ".Inf" || t == ".INF") return true;
    if (t.empty()) return false;
    std::size_t i = 0;
    if (is_digit(t[0])) {
      while (i < t.size() && is_digit_(t[i])) ++i;
      if (i < t.size() && t[i] == '.') {
        ++i;
        while (i < t.size() && is_digit_(t[i])) ++i;
        if (i < t.size() && !consume_exponent(t, i, false)) return false;
        return i == t.size();
      }
      return consume_exponent(t, i, false) && i == t.size();
    }
    if (signed_ || t[0] != '.') return false;
    i = 1;
    while (i < t.size() && is_digit_(t[i])) ++i;
    if (i == 1) return false;
    if (i < t.size() && !consume_exponent(t, i, true)) return false;
    return i == t.size();
  }

  static YamlNode make_scalar(const std::string& text, bool quoted, const std::string& path) {
    YamlNode node;
    node.path_ = path;
    node.text_ = text;
    node.quoted_ = quoted;
    if (quoted) node.kind_ = YamlNode::Kind::String;
    else if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL")
      node.kind_ = YamlNode::Kind::Null;
    else if (is_bool_text(text)) node.kind_ = YamlNode::Kind::Bool;
    else if (is_int_text(text)) node.kind_ = YamlNode::Kind::Int;
    else if (is_float_text(text)) node.kind_ = YamlNode::Kind::Float;
    else node.kind_ = YamlNode::Kind::String;
    return node;
  }

  // ---- interpolation -----------------------------------------------------------------

  static YamlNode* lookup(YamlNode& root, const std::string& dotted) {
    YamlNode* n = &root;
    std::size_t i = 0;
    while (n != nullptr && i < dotted.size()) {
      std::size_t end = dotted.find_first_of(".[", i);
      if (end == std::string::npos) end = dotted.size();
      const std::string part = dotted.substr(i, end - i);
      if (!part.empty()) {
        if (n->kind_ == YamlNode::Kind::Mapping) {
          YamlNode* next = nullptr;
          for (auto& [k, v] : n->items_)
            if (k == part) next = &v;
          n = next;
        } else if (std::uint64_t idx = 0; n->kind_ == YamlNode::Kind::Sequence && parse_unsigned(part, 10, &idx)) {
          n = idx < n->elements_.size() ? &n->elements_[idx] : nullptr;
        } else {
          n = nullptr;
        }
      }
      i = end;
      if (i < dotted.size() && dotted[i] == '[') {
        const std::size_t close = dotted.find(']', i);
        if (close == std::string::npos) return nullptr;
        std::uint64_t idx = 0;
        if (n == nullptr || n->kind_ != YamlNode::Kind::Sequence ||
            !parse_unsigned(std::string_view(dotted).substr(i + 1, close - i - 1), 10, &idx) ||
            idx >= n->elements_.size())
          return nullptr;
        n = &n->elements_[idx];
        i = close + 1;
      }
      if (i < dotted.size() && dotted[i] == '.') ++i;
    }
    return n;
  }

  // "${.x}" is relative to the node's parent, each further '.' one level up (OmegaConf).
  static std::string absolute_ref(const std::string& ref, const std::string& node_path) {
    if (ref.empty() || ref[0] != '.') return ref;
    std::size_t dots = ref.find_first_not_of('.');
    if (dots == std::string::npos) dots = ref.size();
    std::string base = node_path;
    for (std::size_t k = 0; k < dots; ++k) {
      const std::size_t cut = base.find_last_of(".[");
      base = cut == std::string::npos ? "" : base.substr(0, cut);
    }
    const std::string rest = ref.substr(dots);
    return base.empty() ? rest : rest.empty() ? base : base + "." + rest;
  }

  static bool has_interpolation(const YamlNode& n) {
    return n.kind_ == YamlNode::Kind::String && !n.unresolved_ && n.text_.find("${") != std::string::npos;
  }

  std::string at_node(const YamlNode& node) const { return str_cat("[yaml] ", source_, ": ", node.path_, ": "); }

  void charge(const YamlNode& node, std::uint64_t bytes) {
    expanded_ += bytes;
    WMA_CHECK(expanded_ <= kMaxExpandedBytes, at_node(node), "interpolations expand to more than ",
              kMaxExpandedBytes >> 20, " MiB");
  }

  static std::uint64_t footprint(const YamlNode& n) {
    std::uint64_t bytes = sizeof(YamlNode) + n.text_.size() + n.path_.size();
    for (const auto& e : n.elements_) bytes += footprint(e);
    for (const auto& [k, v] : n.items_) bytes += k.size() + footprint(v);
    return bytes;
  }

  // Resolves `node` in place; `active` holds the paths being resolved (cycle detection), `depth` counts tree
  // levels and interpolation hops above it.
  bool resolve(YamlNode& node, YamlNode& root, std::set<std::string>& active, int depth) {
    if (!has_interpolation(node)) return !node.unresolved_;
    auto unresolved = [&](const std::string& why) {
      node.unresolved_ = true;
      node.text_ = str_cat("[yaml] ", source_, ": ", node.path_, " = '", node.text_, "': ", why);
      return false;
    };
    if (!active.insert(node.path_).second) return unresolved("interpolation cycle");
    struct Guard {
      std::set<std::string>& s;
      std::string p;
      ~Guard() { s.erase(p); }
    } guard{active, node.path_};

    const std::string& t = node.text_;
    std::string out;
    const YamlNode* whole = nullptr;
    std::size_t i = 0;
    while (i < t.size()) {
      if (t.compare(i, 3, "\\${") == 0) {  // escaped: a literal "${"
        out += "${";
        i += 3;
        continue;
      }
      if (t.compare(i, 2, "${") != 0) {
        out.push_back(t[i++]);
        continue;
      }
      const std::size_t close = t.find('}', i);
      if (close == std::string::npos) return unresolved("unterminated ${");
      const std::string ref = trim(t.substr(i + 2, close - i - 2));
      if (ref.find(':') != std::string::npos) return unresolved("custom resolvers are not supported");
      const std::string target_path = absolute_ref(ref, node.path_);
      if (node.path_ == target_path || node.path_.rfind(target_path + ".", 0) == 0 ||
          node.path_.rfind(target_path + "[", 0) == 0)
        return unresolved("refers to itself or to a node containing it");
      YamlNode* target = lookup(root, target_path);
      if (target == nullptr) return unresolved(str_cat("key '", target_path, "' not found"));
      if (!resolve_tree(*target, root, active, depth + 1))
        return unresolved(str_cat("'", target_path, "' cannot be resolved"));
      if (i == 0 && close + 1 == t.size()) {
        whole = target;
        break;
      }
      if (!target->is_scalar()) return unresolved(str_cat("'", target_path, "' is not a scalar"));
      charge(node, target->text_.size());
      out += target->text_;
      i = close + 1;
    }
    if (whole != nullptr) {
      const std::string path = node.path_;
      charge(node, footprint(*whole));
      YamlNode copy = *whole;
      node = std::move(copy);
      rebase_paths(node, path);
    } else {
      node.text_ = out;
      node.kind_ = YamlNode::Kind::String;
    }
    return true;
  }

  static void rebase_paths(YamlNode& n, const std::string& path) {
    n.path_ = path;
    for (std::size_t k = 0; k < n.elements_.size(); ++k) rebase_paths(n.elements_[k], str_cat(path, "[", k, "]"));
    for (auto& [key, v] : n.items_) rebase_paths(v, child_path(path, key));
  }

  bool resolve_tree(YamlNode& n, YamlNode& root, std::set<std::string>& active, int depth) {
    WMA_CHECK(depth <= kMaxDepth, at_node(n), "nested deeper than ", kMaxDepth,
              " levels, counting ${} interpolation hops");
    WMA_CHECK(++visits_ <= kMaxResolveVisits, at_node(n), "resolving interpolations takes more than ",
              kMaxResolveVisits, " node visits");
    bool ok = resolve(n, root, active, depth);
    for (auto& e : n.elements_) ok = resolve_tree(e, root, active, depth + 1) && ok;
    for (auto& [k, v] : n.items_) ok = resolve_tree(v, root, active, depth + 1) && ok;
    return ok;
  }

  std::string source_;
  std::vector<Line> lines_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  std::uint64_t expanded_ = 0, visits_ = 0;
};

// ---- YamlNode ------------------------------------------------------------------------------

void YamlNode::check_resolved() const {
  if (unresolved_) throw Error(text_);
}

YamlNode::Kind YamlNode::kind() const {
  check_resolved();
  return kind_;
}

bool YamlNode::is_scalar() const {
  const Kind k = kind();
  return k != Kind::Sequence && k != Kind::Mapping;
}

const YamlNode* YamlNode::find(std::string_view key) const {
  WMA_CHECK(kind() == Kind::Mapping, "[yaml] ", path_.empty() ? "<root>" : path_, " is not a mapping");
  for (const auto& [k, v] : items_)
    if (k == key) return &v;
  return nullptr;
}

const YamlNode& YamlNode::operator[](std::string_view key) const {
  const YamlNode* n = find(key);
  WMA_CHECK(n != nullptr, "[yaml] missing key '", path_.empty() ? std::string(key) : path_ + "." + std::string(key),
            "'");
  return *n;
}

const std::vector<std::pair<std::string, YamlNode>>& YamlNode::items() const {
  WMA_CHECK(kind() == Kind::Mapping, "[yaml] ", path_, " is not a mapping");
  return items_;
}

const YamlNode& YamlNode::operator[](std::size_t index) const {
  WMA_CHECK(kind() == Kind::Sequence, "[yaml] ", path_, " is not a sequence");
  WMA_CHECK(index < elements_.size(), "[yaml] ", path_, " has ", elements_.size(), " elements, no [", index, "]");
  return elements_[index];
}

const std::vector<YamlNode>& YamlNode::elements() const {
  WMA_CHECK(kind() == Kind::Sequence, "[yaml] ", path_, " is not a sequence");
  return elements_;
}

std::size_t YamlNode::size() const {
  const Kind k = kind();
  WMA_CHECK(k == Kind::Sequence || k == Kind::Mapping, "[yaml] ", path_, " is a scalar");
  return k == Kind::Sequence ? elements_.size() : items_.size();
}

const YamlNode* YamlNode::find_path(std::string_view dotted) const {
  const YamlNode* n = this;
  std::size_t i = 0;
  const std::string d(dotted);
  while (n != nullptr && i < d.size()) {
    std::size_t end = d.find_first_of(".[", i);
    if (end == std::string::npos) end = d.size();
    const std::string part = d.substr(i, end - i);
    if (!part.empty()) {
      if (n->kind() == Kind::Mapping) {
        n = n->find(part);
      } else if (std::uint64_t idx = 0; n->kind() == Kind::Sequence && parse_unsigned(part, 10, &idx)) {
        n = idx < n->elements_.size() ? &n->elements_[idx] : nullptr;
      } else {
        return nullptr;
      }
    }
    i = end;
    if (n != nullptr && i < d.size() && d[i] == '[') {
      const std::size_t close = d.find(']', i);
      const std::string_view index = std::string_view(d).substr(i + 1, close == std::string::npos ? 0 : close - i - 1);
      WMA_CHECK(close != std::string::npos && !index.empty() &&
                    index.find_first_not_of("0123456789") == std::string::npos,
                "[yaml] bad path '", d, "'");
      std::uint64_t idx = 0;
      if (n->kind() != Kind::Sequence || !parse_unsigned(index, 10, &idx) || idx >= n->elements_.size()) return nullptr;
      n = &n->elements_[idx];
      i = close + 1;
    }
    if (i < d.size() && d[i] == '.') ++i;
  }
  return n;
}

const YamlNode& YamlNode::at_path(std::string_view dotted) const {
  const YamlNode* n = find_path(dotted);
  WMA_CHECK(n != nullptr, "[yaml] missing key '",
            path_.empty() ? std::string(dotted) : path_ + "." + std::string(dotted), "'");
  return *n;
}

bool YamlNode::as_bool() const {
  WMA_CHECK(kind() == Kind::Bool, "[yaml] ", path_, " = '", text_, "' is not a boolean");
  const char c = text_[0];
  return c == 'y' || c == 'Y' || c == 't' || c == 'T' || text_ == "on" || text_ == "On" || text_ == "ON";
}

std::int64_t YamlNode::as_int() const {
  WMA_CHECK(kind() == Kind::Int, "[yaml] ", path_, " = '", text_, "' is not an integer");
  std::string t;
  for (char c : text_)
    if (c != '_') t.push_back(c);
  bool neg = false;
  std::size_t i = 0;
  if (t[0] == '+' || t[0] == '-') neg = t[i++] == '-';
  const std::string_view body = std::string_view(t).substr(i);
  std::uint64_t v = 0;
  bool ok = false;
  if (body.starts_with("0b")) ok = parse_unsigned(body.substr(2), 2, &v);
  else if (body.starts_with("0x")) ok = parse_unsigned(body.substr(2), 16, &v);
  else if (body.size() > 1 && body[0] == '0') ok = parse_unsigned(body, 8, &v);
  else ok = parse_unsigned(body, 10, &v);
  // "0x_" is an int to the resolver (underscores are dropped here), and Python's ints have no range.
  const std::uint64_t limit = neg ? std::uint64_t{1} << 63 : (std::uint64_t{1} << 63) - 1;
  WMA_CHECK(ok && v <= limit, "[yaml] ", path_, " = '", text_, "' is not a 64-bit integer");
  return static_cast<std::int64_t>(neg ? 0 - v : v);
}

double YamlNode::as_double() const {
  const Kind k = kind();
  if (k == Kind::Int) return static_cast<double>(as_int());
  WMA_CHECK(k == Kind::Float, "[yaml] ", path_, " = '", text_, "' is not a number");
  std::string t;
  for (char c : text_)
    if (c != '_') t.push_back(c);
  const bool neg = !t.empty() && t[0] == '-';
  const std::string body = (!t.empty() && (t[0] == '-' || t[0] == '+')) ? t.substr(1) : t;
  if (body == ".inf" || body == ".Inf" || body == ".INF")
    return neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  if (body == ".nan" || body == ".NaN" || body == ".NAN") return std::numeric_limits<double>::quiet_NaN();
  // strtod, not std::stod: 1e999 is inf and 1e-320 a denormal, as in Python, where stod throws out_of_range.
  return std::strtod(t.c_str(), nullptr);
}

const std::string& YamlNode::as_string() const {
  WMA_CHECK(is_scalar(), "[yaml] ", path_, " is not a scalar");
  return text_;
}

std::vector<std::int64_t> YamlNode::as_int_list() const {
  std::vector<std::int64_t> out;
  for (const auto& e : elements()) out.push_back(e.as_int());
  return out;
}

std::vector<double> YamlNode::as_double_list() const {
  std::vector<double> out;
  for (const auto& e : elements()) out.push_back(e.as_double());
  return out;
}

std::int64_t YamlNode::get_int(std::string_view key, std::int64_t fallback) const {
  const YamlNode* n = find(key);
  return n == nullptr || n->is_null() ? fallback : n->as_int();
}

double YamlNode::get_double(std::string_view key, double fallback) const {
  const YamlNode* n = find(key);
  return n == nullptr || n->is_null() ? fallback : n->as_double();
}

bool YamlNode::get_bool(std::string_view key, bool fallback) const {
  const YamlNode* n = find(key);
  return n == nullptr || n->is_null() ? fallback : n->as_bool();
}

std::string YamlNode::get_string(std::string_view key, const std::string& fallback) const {
  const YamlNode* n = find(key);
  return n == nullptr || n->is_null() ? fallback : n->as_string();
}

YamlNode parse_yaml(std::string_view text, const std::string& source) { return YamlBuilder(text, source).build(); }

YamlNode load_yaml(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  WMA_CHECK(f, "[yaml] cannot open ", path);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return parse_yaml(text, path);
}

}  // namespace wma::io
