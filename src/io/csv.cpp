#include "io/csv.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace wma::io {
namespace {

std::vector<std::vector<std::string>> split_records(const std::string& text, const std::string& source) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false;
  bool field_started = false;
  std::size_t line = 1;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && !field_started) {
      quoted = true;
      field_started = true;
    } else if (c == ',') {
      record.push_back(std::move(field));
      field.clear();
      field_started = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      record.push_back(std::move(field));
      field.clear();
      field_started = false;
      if (!(record.size() == 1 && record[0].empty())) records.push_back(std::move(record));
      record.clear();
      ++line;
    } else {
      field += c;
      field_started = true;
    }
  }
  WMA_CHECK(!quoted, "[csv] ", source, ": unterminated quoted field at line ", line);
  if (field_started || !record.empty()) {
    record.push_back(std::move(field));
    records.push_back(std::move(record));
  }
  return records;
}

}  // namespace

CsvTable CsvTable::parse(const std::string& text, const std::string& source_name) {
  CsvTable table;
  table.source_ = source_name;
  auto records = split_records(text, source_name);
  WMA_CHECK(!records.empty(), "[csv] ", source_name, ": no header row");
  table.columns_ = std::move(records.front());
  for (std::size_t r = 1; r < records.size(); ++r) {
    WMA_CHECK(records[r].size() == table.columns_.size(), "[csv] ", source_name, ": row ", r, " has ",
              records[r].size(), " fields, the header has ", table.columns_.size());
    table.rows_.push_back(std::move(records[r]));
  }
  return table;
}

CsvTable CsvTable::read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  WMA_CHECK(in.good(), "[csv] cannot open ", path);
  std::ostringstream os;
  os << in.rdbuf();
  return parse(os.str(), path);
}

const std::string& CsvTable::at(std::size_t row, const std::string& column) const {
  WMA_CHECK(row < rows_.size(), "[csv] ", source_, ": row ", row, " out of ", rows_.size());
  for (std::size_t c = 0; c < columns_.size(); ++c)
    if (columns_[c] == column) return rows_[row][c];
  fail("[csv] ", source_, ": no column '", column, "'");
}

}  // namespace wma::io
