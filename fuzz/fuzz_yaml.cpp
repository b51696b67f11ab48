// libFuzzer target: a config as `wma interact/serve/generate --config` reads it, every value read back (reading
// an unresolvable interpolation is the expected error, so each read is tried on its own).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.h"
#include "io/yaml.h"

namespace {

void read_all(const wma::io::YamlNode& root, const wma::io::YamlNode& node, int depth) {
  using wma::Error;
  try {
    root.find_path(node.path());
    if (node.is_scalar()) {
      node.as_string();
      try {
        node.as_int();
      } catch (const Error&) {
      }
      try {
        node.as_double();
      } catch (const Error&) {
      }
      try {
        node.as_bool();
      } catch (const Error&) {
      }
      return;
    }
    if (node.is_sequence()) {
      try {
        node.as_double_list();
      } catch (const Error&) {
      }
      for (const auto& e : node.elements()) read_all(root, e, depth + 1);
    } else if (node.is_mapping()) {
      for (const auto& [key, value] : node.items()) {
        node.find(key);
        read_all(root, value, depth + 1);
      }
    }
  } catch (const Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const wma::io::YamlNode root =
        wma::io::parse_yaml(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
    read_all(root, root, 0);
  } catch (const wma::Error&) {
  }
  return 0;
}
