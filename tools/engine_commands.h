// `modelgate synth-model` and `modelgate generate`: the local engine from the command line.
#pragma once

#include <string>
#include <vector>

namespace mg::tools {

int run_synth_model_command(const std::vector<std::string>& args);
int run_generate_command(const std::vector<std::string>& args);

}  // namespace mg::tools
