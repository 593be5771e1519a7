#include "tests/support/run_command.h"

#include <sys/wait.h>

#include <cstdio>
#include <memory>

namespace mg::test {

CommandResult run_command_with_status(const std::string& command) {
  CommandResult result;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), &::pclose);
  if (!pipe) return result;
  char buffer[65536];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe.get())) > 0;) result.output.append(buffer, n);
  const int status = ::pclose(pipe.release());
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

}  // namespace mg::test
