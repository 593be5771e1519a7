// The CLI subcommands' shared option parsing: "--name VALUE" flags into strings, the rest positional.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mg::tools {

struct CliSpec {
  const char* command;  // "modelgate keys", for error messages
  const char* help;     // printed for --help
  std::map<std::string, std::string*> flags;  // "--db" -> where its value goes
};

// Fills the flags and `positional`. An exit code when the command should end now (--help: 0, a usage
// error: 2, reported on stderr), nullopt to go on.
std::optional<int> parse_cli(const std::vector<std::string>& args, const CliSpec& spec, std::vector<std::string>& positional);

// Reports a usage error and returns 2.
int cli_usage_error(const char* command, const std::string& message);

}  // namespace mg::tools
