// What several engine tests share: running an outside program, and the NumPy reference forward pass
// (tests/local_engine/model/reference_forward.py) with the comparison of its logits to the engine's.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "local_engine/model/llama_model.h"
#include "tests/support/run_command.h"

namespace mg::engine::testing {

using mg::test::CommandResult;
using mg::test::run_command_with_status;

// The command's standard output (empty when it cannot be started).
std::string run_command(const std::string& command);

// `prompt` as "1,2,3".
std::string joined_ids(std::span<const std::int32_t> prompt);

struct ReferenceRun {
  std::vector<std::vector<double>> logits;  // [n_prompt, n_vocab]
  std::vector<std::int32_t> greedy;         // [greedy_steps]
};

// Runs the NumPy reference on a GGUF file; std::runtime_error (saying what to install) when it cannot.
// With `engine_inputs` (written by ProductInputRecorder) it checks the engine's rounded inputs of products
// with quantized weights and computes with them; without, it multiplies unrounded inputs.
ReferenceRun run_numpy_reference(const std::filesystem::path& model, std::span<const std::int32_t> prompt, int greedy_steps,
                                 const std::filesystem::path& engine_inputs = {});

// Writes every quantized product input a session hands its observer to a file in the layout
// reference_forward.py's --engine-inputs reads.
class ProductInputRecorder {
 public:
  explicit ProductInputRecorder(std::filesystem::path path);
  ~ProductInputRecorder();
  ProductInputRecorder(const ProductInputRecorder&) = delete;
  ProductInputRecorder& operator=(const ProductInputRecorder&) = delete;

  void attach(LlamaSession& session);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::FILE* file_;
};

// The largest |engine - reference| over all positions, each relative to that position's largest
// |reference logit|. `engine_logits` is [n_positions, n_vocab].
double worst_relative_logit_error(std::span<const float> engine_logits, const ReferenceRun& reference, std::size_t n_vocab);

}  // namespace mg::engine::testing
