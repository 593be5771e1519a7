// The engine's forward pass against an independent NumPy reference (reference_forward.py, float64, its
// own GGUF parser and dequantizers) on tiny synthetic Mistral and Mixtral files: logits at every position
// of a 64-token prompt, and 64 greedy steps.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>

#include <gtest/gtest.h>

#include "local_engine/model/llama_model.h"
#include "local_engine/model/synthetic_model.h"
#include "tests/local_engine/support/engine_test_support.h"

namespace mg::engine {
namespace {

constexpr int kPromptTokens = 64;
constexpr int kGreedySteps = 64;

struct Case {
  std::string label;
  std::string shape;
  std::string file_type;
  double tolerance;  // the largest |engine - reference| allowed, relative to the row's largest |logit|
  bool merged_experts = true;
  std::optional<std::uint32_t> sliding_window;
};

std::ostream& operator<<(std::ostream& out, const Case& c) { return out << c.label; }

std::vector<std::int32_t> prompt_for(std::uint32_t n_vocab) {
  std::mt19937 random(7);
  std::vector<std::int32_t> prompt = {1};  // BOS
  while (prompt.size() < kPromptTokens) prompt.push_back(static_cast<std::int32_t>(3 + random() % (n_vocab - 3)));
  return prompt;
}

std::vector<std::int32_t> greedy(LlamaSession& session, std::vector<float> logits, std::uint32_t n_vocab) {
  std::vector<std::int32_t> tokens;
  for (int step = 0; step < kGreedySteps; ++step) {
    auto best = std::max_element(logits.end() - n_vocab, logits.end());
    std::int32_t token = static_cast<std::int32_t>(best - (logits.end() - n_vocab));
    tokens.push_back(token);
    logits = session.evaluate(std::span(&token, 1));
  }
  return tokens;
}

class ForwardReferenceTest : public ::testing::TestWithParam<Case> {};

TEST_P(ForwardReferenceTest, LogitsAndGreedyTokensMatchTheNumPyReference) {
  const Case& c = GetParam();
  SyntheticModelSpec spec = synthetic_preset(c.shape);
  spec.file_type = c.file_type;
  spec.merged_experts = c.merged_experts;
  spec.hparams.sliding_window = c.sliding_window;
  spec.seed = 42;
  auto path = std::filesystem::temp_directory_path() / ("mg_forward_" + std::to_string(::getpid()) + "_" + c.label + ".gguf");
  synthetic_model_writer(spec).write(path);

  auto model = LlamaModel::load(path);
  const std::uint32_t n_vocab = model->hparams().n_vocab;
  std::vector<std::int32_t> prompt = prompt_for(n_vocab);
  LlamaSession session(model, 256);
  testing::ProductInputRecorder inputs(path.string() + ".inputs");
  inputs.attach(session);
  std::vector<float> logits = session.evaluate(prompt, true);
  std::vector<std::int32_t> tokens = greedy(session, std::vector<float>(logits.end() - n_vocab, logits.end()), n_vocab);

  testing::ReferenceRun reference = testing::run_numpy_reference(path, prompt, kGreedySteps, inputs.path());
  std::filesystem::remove(path);
  double worst = testing::worst_relative_logit_error(logits, reference, n_vocab);
  EXPECT_LE(worst, c.tolerance);
  RecordProperty("worst_relative_error", std::to_string(worst));
  EXPECT_EQ(tokens, reference.greedy);
  std::printf("%s: worst relative logit error %.2e over %d positions; %d greedy tokens %s\n", c.label.c_str(), worst, kPromptTokens, kGreedySteps,
              tokens == reference.greedy ? "equal" : "DIFFERENT");
}

// Quantized files too are held to 1e-4: the reference dequantizes the same blocks and, having checked
// the engine's 8-bit rounding of each product's input, multiplies the same rounded values, so only float
// arithmetic separates the two (measured: about 1e-6 for every type).
Case make_case(std::string label, std::string shape, std::string file_type, bool merged_experts = true,
               std::optional<std::uint32_t> sliding_window = std::nullopt) {
  return Case{std::move(label), std::move(shape), std::move(file_type), 1e-4, merged_experts, sliding_window};
}

INSTANTIATE_TEST_SUITE_P(TinyModels, ForwardReferenceTest,
                         ::testing::Values(make_case("mistral_f32", "tiny-mistral", "F32"),
                                           make_case("mistral_f32_window", "tiny-mistral", "F32", true, 24),
                                           make_case("mixtral_f32_merged", "tiny-mixtral", "F32"),
                                           make_case("mixtral_f32_per_expert", "tiny-mixtral", "F32", false),
                                           make_case("mistral_f16", "tiny-mistral", "F16"), make_case("mistral_q8_0", "tiny-mistral", "Q8_0"),
                                           make_case("mistral_q4_0", "tiny-mistral", "Q4_0"), make_case("mistral_q4_k_m", "tiny-mistral", "Q4_K_M"),
                                           make_case("mistral_q6_k", "tiny-mistral", "Q6_K"), make_case("mixtral_q4_k_m", "tiny-mixtral", "Q4_K_M")),
                         [](const auto& test_info) { return test_info.param.label; });

}  // namespace
}  // namespace mg::engine
