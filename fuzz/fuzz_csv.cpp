// libFuzzer target: a prompt table (upstream's examples/*/*.csv) as `wma interact` and `generate` read it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "io/csv.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto table = wma::io::CsvTable::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz.csv");
    for (std::size_t r = 0; r < table.rows(); ++r)
      for (const std::string& column : table.columns()) table.at(r, column);
  } catch (const wma::Error&) {
  }
  return 0;
}
