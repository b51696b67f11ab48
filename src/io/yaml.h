// The YAML subset of upstream's configs (configs/inference/*.yaml) as OmegaConf reads them:
// block mappings and sequences, flow [..] / {..}, plain and quoted scalars typed like PyYAML's
// YAML 1.1 resolver (with OmegaConf's float rule), comments, and ${path.to.key} interpolation.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wma::io {

class YamlNode {
 public:
  enum class Kind { Null, Bool, Int, Float, String, Sequence, Mapping };

  Kind kind() const;
  const std::string& path() const { return path_; }  // dotted, for messages ("model.params.x[2]")
  bool is_null() const { return kind() == Kind::Null; }
  bool is_scalar() const;
  bool is_sequence() const { return kind() == Kind::Sequence; }
  bool is_mapping() const { return kind() == Kind::Mapping; }

  // Mapping access. operator[] throws naming the path when the key is absent.
  const YamlNode* find(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  const YamlNode& operator[](std::string_view key) const;
  const std::vector<std::pair<std::string, YamlNode>>& items() const;  // file order
  // Sequence access.
  const YamlNode& operator[](std::size_t index) const;
  const std::vector<YamlNode>& elements() const;
  std::size_t size() const;  // elements or items

  // Dotted path below this node ("model.params.image_size"; "a.b[1]" or "a.b.1" index sequences).
  const YamlNode* find_path(std::string_view dotted) const;
  const YamlNode& at_path(std::string_view dotted) const;

  // Typed scalars; each throws naming the path on a kind mismatch.
  bool as_bool() const;
  std::int64_t as_int() const;
  double as_double() const;              // Int or Float
  const std::string& as_string() const;  // the scalar's text (any scalar kind; quotes removed)
  std::vector<std::int64_t> as_int_list() const;
  std::vector<double> as_double_list() const;

  // Defaults for optional keys of a mapping.
  std::int64_t get_int(std::string_view key, std::int64_t fallback) const;
  double get_double(std::string_view key, double fallback) const;
  bool get_bool(std::string_view key, bool fallback) const;
  std::string get_string(std::string_view key, const std::string& fallback) const;

 private:
  friend class YamlBuilder;
  void check_resolved() const;

  Kind kind_ = Kind::Null;
  std::string path_;
  std::string text_;  // scalar text; for an unresolvable interpolation, the error message
  bool quoted_ = false;
  bool unresolved_ = false;  // an interpolation that could not be resolved: any access throws
  std::vector<YamlNode> elements_;
  std::vector<std::pair<std::string, YamlNode>> items_;
};

// Parses `text` (`source` names it in errors) and resolves interpolations. A reference that
// cannot be resolved is an error only when that value is read, as in OmegaConf.
YamlNode parse_yaml(std::string_view text, const std::string& source = "<yaml>");
YamlNode load_yaml(const std::string& path);

}  // namespace wma::io
