// Flag parsing shared by the subcommands: upstream's argparse conventions (--name value, --name=value,
// switches, several values for nargs='+' flags), with every unknown flag an error that prints the usage.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace wma::app {

struct FlagSpec {
  const char* usage;                    // printed with every flag error
  std::vector<std::string> known;       // every accepted flag name (switches included)
  std::vector<std::string> switches;    // flags that take no value
  std::vector<std::string> multi = {};  // flags that take one or more values (argparse nargs='+')
};

class Flags {
 public:
  Flags(int argc, char** argv, FlagSpec spec);
  bool has(const std::string& n) const { return args_.count(n) != 0; }
  std::string str(const std::string& n, const std::string& fallback = "") const;
  std::string required(const std::string& n) const;
  long long integer(const std::string& n, long long fallback) const;
  double real(const std::string& n, double fallback) const;
  std::vector<std::int64_t> integers(const std::string& n, std::int64_t fallback) const;
  bool help() const { return has("help"); }
  const char* usage() const { return spec_.usage; }

 private:
  long long to_int(const std::string& n, const std::string& v) const;
  FlagSpec spec_;
  std::map<std::string, std::vector<std::string>> args_;
};

// OpenCLIP's vocabulary (not in the checkpoint): --clip-vocab / --bpe_path, $WMA_BPE_PATH, next to the
// checkpoint (--ckpt_path), then inside an installed open_clip Python package. Empty when not found.
std::string find_bpe(const Flags& f);

}  // namespace wma::app
