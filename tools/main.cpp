// The `modelgate` executable: dispatches to subcommands. `serve` is the default.
#include <cstdio>
#include <string>
#include <vector>

#include "bench/engine/engine_bench.h"
#include "gateway/serve_command.h"
#include "tools/catalogue_command.h"
#include "tools/engine_commands.h"
#include "tools/keys_command.h"

namespace {

const char* const kUsage =
    "Usage: modelgate [SUBCOMMAND] [options]\n"
    "\n"
    "Subcommands:\n"
    "  serve        run the OpenAI-compatible gateway (default)\n"
    "  bench        measure the built-in engine's speed on a GGUF model\n"
    "  catalogue    list, import, export and edit the pricing catalogue\n"
    "  keys         create, list and revoke client API keys\n"
    "  usage        the usage ledger's requests, tokens and cost, as a table\n"
    "  generate     generate text with the built-in engine from a GGUF model\n"
    "  synth-model  write a random-weight Mistral or Mixtral GGUF file (tests, benchmarks)\n"
    "  version      print the version\n"
    "  help         show this help\n"
    "\n"
    "Run 'modelgate SUBCOMMAND --help' for a subcommand's options.\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string subcommand = "serve";
  if (!args.empty() && (!args.front().starts_with("-") || args.front() == "--help" || args.front() == "--version")) {
    subcommand = args.front();
    args.erase(args.begin());
  }
  if (subcommand == "serve") return mg::gateway::run_serve_command(args);
  if (subcommand == "catalogue") return mg::tools::run_catalogue_command(args);
  if (subcommand == "keys") return mg::tools::run_keys_command(args);
  if (subcommand == "usage") return mg::tools::run_usage_command(args);
  if (subcommand == "synth-model") return mg::tools::run_synth_model_command(args);
  if (subcommand == "generate") return mg::tools::run_generate_command(args);
  if (subcommand == "bench") return mg::bench::run_engine_bench_command(args);
  bool wants_help = !args.empty() && (args.front() == "--help" || args.front() == "-h");
  if (subcommand == "version" && wants_help) {
    std::puts("Usage: modelgate version\n\nPrints the modelgate version.");
    return 0;
  }
  if (subcommand == "version" || subcommand == "--version") {
    std::puts("modelgate " MODELGATE_VERSION);
    return 0;
  }
  if (subcommand == "help" || subcommand == "--help" || subcommand == "-h") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::fprintf(stderr, "modelgate: unknown subcommand '%s'\n\n%s", subcommand.c_str(), kUsage);
  return 2;
}
