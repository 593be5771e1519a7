#include "tests/local_engine/support/engine_test_support.h"

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace mg::engine::testing {

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

std::string run_command(const std::string& command) { return run_command_with_status(command).output; }

std::string joined_ids(std::span<const std::int32_t> prompt) {
  std::string ids;
  for (std::int32_t id : prompt) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  return ids;
}

ReferenceRun run_numpy_reference(const std::filesystem::path& model, std::span<const std::int32_t> prompt, int greedy_steps) {
  std::string output = run_command(std::string(MODELGATE_PYTHON) + " " + MODELGATE_SOURCE_DIR + "/tests/local_engine/model/reference_forward.py " +
                                    model.string() + " " + joined_ids(prompt) + " " + std::to_string(greedy_steps));
  if (output.empty()) throw std::runtime_error("the NumPy reference gave nothing: is python3-numpy installed (scripts/install-deps.sh)?");
  nlohmann::json parsed = nlohmann::json::parse(output);
  return {parsed["logits"].get<std::vector<std::vector<double>>>(), parsed["greedy"].get<std::vector<std::int32_t>>()};
}

double worst_relative_logit_error(std::span<const float> engine_logits, const ReferenceRun& reference, std::size_t n_vocab) {
  double worst = 0;
  for (std::size_t position = 0; position < reference.logits.size(); ++position) {
    const std::vector<double>& expected = reference.logits[position];
    double largest = 0;
    for (double value : expected) largest = std::max(largest, std::abs(value));
    for (std::size_t t = 0; t < n_vocab; ++t) worst = std::max(worst, std::abs(engine_logits[position * n_vocab + t] - expected[t]) / largest);
  }
  return worst;
}

}  // namespace mg::engine::testing
