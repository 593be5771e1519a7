// `modelgate bench`: prompt processing (pp) and token generation (tg) speed of the local engine on a
// GGUF file, in a table shaped like llama-bench's so the two compare side by side, plus a memory
// bandwidth probe and how close generation comes to the bandwidth bound.
#pragma once

#include <string>
#include <vector>

namespace mg::bench {

int run_engine_bench_command(const std::vector<std::string>& args);

}  // namespace mg::bench
