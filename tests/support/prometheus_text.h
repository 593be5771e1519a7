// Reads Prometheus text exposition back for tests: each sample line's value by its name and labels,
// exactly as written ("modelgate_requests_total{route=\"fake/echo\",status=\"200\"}").
#pragma once

#include <map>
#include <sstream>
#include <string>

namespace mg::test {

inline std::map<std::string, double> prometheus_samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.starts_with("#")) continue;
    std::size_t space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

}  // namespace mg::test
