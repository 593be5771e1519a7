#include "tools/cli_options.h"

#include <cstdio>

namespace mg::tools {

int cli_usage_error(const char* command, const std::string& message) {
  std::fprintf(stderr, "%s: %s\n(see %s --help)\n", command, message.c_str(), command);
  return 2;
}

std::optional<int> parse_cli(const std::vector<std::string>& args, const CliSpec& spec, std::vector<std::string>& positional) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(spec.help, stdout);
      return 0;
    }
    auto flag = spec.flags.find(arg);
    if (flag != spec.flags.end()) {
      if (i + 1 >= args.size()) return cli_usage_error(spec.command, "option " + arg + " needs a value");
      *flag->second = args[++i];
    } else if (arg.starts_with("--")) {
      return cli_usage_error(spec.command, "unknown option '" + arg + "'");
    } else {
      positional.push_back(arg);
    }
  }
  return std::nullopt;
}

}  // namespace mg::tools
