// CSV tables as upstream's example data uses them (header row, RFC 4180 quoting).
#pragma once

#include <string>
#include <vector>

namespace wma::io {

class CsvTable {
 public:
  static CsvTable read(const std::string& path);
  static CsvTable parse(const std::string& text, const std::string& source_name);

  const std::vector<std::string>& columns() const { return columns_; }
  std::size_t rows() const { return rows_.size(); }
  // The cell of `column` in row `row`; throws naming the file when the column is absent.
  const std::string& at(std::size_t row, const std::string& column) const;

 private:
  std::string source_;
  std::vector<std::string> columns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace wma::io
