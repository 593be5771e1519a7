#include "tests/local_engine/support/engine_test_support.h"

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "local_engine/kernels/quantized_dot.h"

namespace mg::engine::testing {

std::string run_command(const std::string& command) { return run_command_with_status(command).output; }

std::string joined_ids(std::span<const std::int32_t> prompt) {
  std::string ids;
  for (std::int32_t id : prompt) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  return ids;
}

ReferenceRun run_numpy_reference(const std::filesystem::path& model, std::span<const std::int32_t> prompt, int greedy_steps,
                                 const std::filesystem::path& engine_inputs) {
  std::string inputs_option = engine_inputs.empty() ? "" : "--engine-inputs " + engine_inputs.string() + " ";
  CommandResult run = run_command_with_status(std::string(MODELGATE_PYTHON) + " " + MODELGATE_SOURCE_DIR +
                                              "/tests/local_engine/model/reference_forward.py " + inputs_option + model.string() + " " +
                                              joined_ids(prompt) + " " + std::to_string(greedy_steps));
  if (run.exit_code != 0 || run.output.empty()) {
    throw std::runtime_error("the NumPy reference failed (exit code " + std::to_string(run.exit_code) +
                             "; its reason is on stderr; is python3-numpy installed? scripts/install-deps.sh installs it)");
  }
  const std::string& output = run.output;
  nlohmann::json parsed = nlohmann::json::parse(output);
  return {parsed["logits"].get<std::vector<std::vector<double>>>(), parsed["greedy"].get<std::vector<std::int32_t>>()};
}

ProductInputRecorder::ProductInputRecorder(std::filesystem::path path) : path_(std::move(path)), file_(std::fopen(path_.c_str(), "wb")) {
  if (!file_) throw std::runtime_error("cannot write " + path_.string());
}

ProductInputRecorder::~ProductInputRecorder() {
  std::fclose(file_);
  std::filesystem::remove(path_);
}

void ProductInputRecorder::attach(LlamaSession& session) {
  session.observe_product_inputs([this](const WeightMatrix& w, std::uint32_t position, std::span<const std::byte> input) {
    const std::string& name = w.tensor->name;
    const std::uint64_t name_length = name.size();
    const std::uint32_t header[] = {static_cast<std::uint32_t>(w.slab), position, static_cast<std::uint32_t>(activation_type_for(w.type)),
                                    static_cast<std::uint32_t>(w.n_cols)};
    std::fwrite(&name_length, sizeof name_length, 1, file_);
    std::fwrite(name.data(), 1, name.size(), file_);
    std::fwrite(header, sizeof header, 1, file_);
    std::fwrite(input.data(), 1, input.size(), file_);
    std::fflush(file_);
  });
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
