// Runs tests/support/json_schema_oracle.py (Debian's python3-jsonschema) on JSON texts: for each, "ok" or
// "invalid: why". Shared by the engine's and the gateway's tests of constrained decoding.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mg::test {

// One verdict per instance; throws std::runtime_error when the oracle cannot run (saying what to install).
std::vector<std::string> judge_against_schema(const std::filesystem::path& source_dir, const nlohmann::json& schema,
                                              const std::vector<std::string>& instances);

}  // namespace mg::test
