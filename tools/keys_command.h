// `modelgate keys ...` (create, list, revoke client API keys) and `modelgate usage` (the ledger's
// aggregates as a table), against the SQLite file a gateway serves from. A running gateway picks key
// changes up within its poll interval.
#pragma once

#include <string>
#include <vector>

namespace mg::tools {

int run_keys_command(const std::vector<std::string>& args);
int run_usage_command(const std::vector<std::string>& args);

}  // namespace mg::tools
