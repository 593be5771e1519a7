// Aligned plain-text tables for the CLI's listings.
#pragma once

#include <string>
#include <vector>

namespace mg::tools {

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) : rows_{std::move(header)} {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string render() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// A number with at most `decimals` decimals and no trailing zeros ("0.11", "199").
std::string format_number(double value, int decimals);

}  // namespace mg::tools
