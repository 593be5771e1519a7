// `modelgate serve`: flags and config file into a ServerConfig, then run the gateway until signalled.
#pragma once

#include <string>
#include <vector>

#include "gateway/server_config.h"

namespace mg::gateway {

// Builds the config from defaults, --config FILE and flags (in that order of precedence). On error or
// --help, returns the exit code to use in `exit_code` and false.
bool parse_serve_args(const std::vector<std::string>& args, ServerConfig& config, int& exit_code);

int run_serve_command(const std::vector<std::string>& args);

extern const char* const kServeHelp;

}  // namespace mg::gateway
