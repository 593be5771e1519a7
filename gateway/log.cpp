#include "gateway/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace mg::gateway {

void log(LogLevel level, std::string_view message) {
  static std::mutex mutex;
  const char* label = level == LogLevel::info ? "info" : level == LogLevel::warn ? "warn" : "error";
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
  std::lock_guard lock(mutex);
  std::fprintf(stderr, "%s %s %.*s\n", stamp, label, static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
}

}  // namespace mg::gateway
