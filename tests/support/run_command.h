// Running an outside program from a test (an oracle: SentencePiece, NumPy, jsonschema, llama.cpp) and
// taking its standard output and exit code. The one way every suite does it.
#pragma once

#include <string>

namespace mg::test {

struct CommandResult {
  std::string output;  // standard output
  int exit_code = -1;  // -1 when the command could not start or did not exit normally
};

// Runs a shell command to its end.
CommandResult run_command_with_status(const std::string& command);

}  // namespace mg::test
