// Minimal start-up / lifecycle logging to stderr. Never called per token or inside loops.
#pragma once

#include <string_view>

namespace mg::gateway {

enum class LogLevel { info, warn, error };

void log(LogLevel level, std::string_view message);
inline void log_info(std::string_view message) { log(LogLevel::info, message); }
inline void log_warn(std::string_view message) { log(LogLevel::warn, message); }
inline void log_error(std::string_view message) { log(LogLevel::error, message); }

}  // namespace mg::gateway
