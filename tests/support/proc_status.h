// One "Name:   1234 kB" field of /proc/<process>/status, in KiB: the tests' view of a process's memory
// (VmRSS, VmLck, ...). Header-only, so test binaries that do not link the gateway's support library can
// use it too.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

namespace mg::test {

// `process`: "self" or a pid. -1 where the field (or /proc) is missing.
inline long proc_status_kib(const std::string& process, std::string_view field) {
  std::ifstream status("/proc/" + process + "/status");
  const std::string prefix = std::string(field) + ":";
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(prefix, 0) == 0) return std::atol(line.c_str() + prefix.size());
  }
  return -1;
}

}  // namespace mg::test
