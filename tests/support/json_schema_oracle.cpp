#include "tests/support/json_schema_oracle.h"

#include "tests/support/run_command.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace mg::test {

std::vector<std::string> judge_against_schema(const std::filesystem::path& source_dir, const nlohmann::json& schema,
                                              const std::vector<std::string>& instances) {
  auto job = std::filesystem::temp_directory_path() / ("mg_schema_job_" + std::to_string(::getpid()) + ".json");
  std::ofstream(job) << nlohmann::json{{"schema", schema}, {"instances", instances}}.dump();
  CommandResult run = run_command_with_status("/usr/bin/python3 " + (source_dir / "tests/support/json_schema_oracle.py").string() + " " +
                                              job.string());
  std::filesystem::remove(job);
  if (run.exit_code != 0) {
    throw std::runtime_error("the JSON Schema oracle failed (exit code " + std::to_string(run.exit_code) +
                             "; its reason is on stderr; is python3-jsonschema installed? scripts/install-deps.sh installs it)");
  }
  const std::string& output = run.output;
  std::vector<std::string> verdicts;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) verdicts.push_back(line);
  return verdicts;
}

}  // namespace mg::test
