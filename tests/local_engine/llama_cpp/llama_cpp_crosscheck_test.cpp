// The engine against llama.cpp itself, run on the same tiny synthetic files through node-llama-cpp's
// prebuilt CPU binaries (installed by scripts/install-deps.sh --with-node): the same greedy tokens for
// 32 steps from F32 and Q8_0 files, and the same tokenization of the tokenizer's test strings.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "local_engine/engine/engine.h"
#include "local_engine/model/synthetic_model.h"
#include "local_engine/tokenizer/gguf_vocabulary.h"
#include "tests/local_engine/support/engine_test_support.h"
#include "tests/local_engine/tokenizer/sentencepiece_oracle_client.h"

namespace mg::engine {
namespace {

constexpr int kGreedySteps = 32;

const std::filesystem::path kHere = std::filesystem::path(MODELGATE_SOURCE_DIR) / "tests/local_engine/llama_cpp";

using testing::run_command;

bool is_valid_utf8(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

class LlamaCppCrossCheckTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (run_command("command -v node").empty() || !std::filesystem::exists(kHere / "node_modules/node-llama-cpp/package.json")) {
      GTEST_SKIP() << "node-llama-cpp is not installed, so llama.cpp cannot be run here (npm unreachable?); "
                      "scripts/install-deps.sh --with-node installs it";
    }
    if (run_command("node -e 'process.stdout.write(String(process.versions.node.split(\".\")[0] >= 20))'") != "true") {
      GTEST_SKIP() << "node-llama-cpp needs Node.js 20 or later; this machine's node is older";
    }
  }
};

TEST_P(LlamaCppCrossCheckTest, SameGreedyTokensAndTokenizationAsLlamaCpp) {
  const auto tag = std::to_string(::getpid()) + "_" + GetParam();
  auto model_path = std::filesystem::temp_directory_path() / ("mg_llamacpp_" + tag + ".gguf");
  auto strings_path = std::filesystem::temp_directory_path() / ("mg_llamacpp_" + tag + ".json");
  SyntheticModelSpec spec = synthetic_preset("tiny-mistral");
  spec.file_type = GetParam();
  spec.seed = 11;
  spec.vocabulary = read_sentencepiece_model(std::filesystem::path(MODELGATE_SOURCE_DIR) / "tests/local_engine/data/mistral_tokenizer/tokenizer.model.v1");
  synthetic_model_writer(spec).write(model_path);

  // JSON carries only valid UTF-8; the invalid strings are the SentencePiece oracle's business.
  std::vector<std::string> strings;
  for (const auto& c : testing::oracle_run("tokenizer.model.v1").cases) {
    if (is_valid_utf8(c.text)) strings.push_back(c.text);
  }
  std::ofstream(strings_path) << nlohmann::json(strings).dump();

  auto engine = Engine::load(model_path);
  std::vector<std::int32_t> prompt = engine->tokenizer().encode("The quick brown fox jumps over the lazy dog and then", true);
  std::string ids = testing::joined_ids(prompt);
  std::string output = run_command("node " + (kHere / "crosscheck.mjs").string() + " " + model_path.string() + " " + ids + " " + std::to_string(kGreedySteps) + " " +
                           strings_path.string());
  std::filesystem::remove(model_path);
  std::filesystem::remove(strings_path);
  ASSERT_FALSE(output.empty()) << "node-llama-cpp gave no answer";
  nlohmann::json reference = nlohmann::json::parse(output);
  RecordProperty("llama_cpp", reference["llama_cpp"].dump());

  int mismatches = 0;
  for (std::size_t i = 0; i < strings.size(); ++i) {
    auto expected = reference["tokens"][i].get<std::vector<std::int32_t>>();
    if (engine->tokenizer().encode(strings[i], false) != expected && ++mismatches <= 5) {
      ADD_FAILURE() << "llama.cpp tokenizes '" << testing::escaped(strings[i]) << "' differently";
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << strings.size() << " strings";

  GenerationRequest request;
  request.prompt = prompt;
  request.max_tokens = kGreedySteps;
  request.sampling.temperature = 0.0f;
  std::vector<std::int32_t> greedy;
  LlamaSession session(engine->model(), 256);
  engine->generate(session, request, [&](const GeneratedPiece& piece) {
    if (piece.token) greedy.push_back(piece.token->token);
    return true;
  });
  EXPECT_EQ(greedy, reference["greedy"].get<std::vector<std::int32_t>>());
  std::printf("llama.cpp %s (%s): %zu strings tokenized alike; greedy tokens: %s\n", reference["llama_cpp"].dump().c_str(),
              reference["build"].get<std::string>().c_str(), strings.size() - static_cast<std::size_t>(mismatches),
              greedy == reference["greedy"].get<std::vector<std::int32_t>>() ? "identical" : "different");
}

INSTANTIATE_TEST_SUITE_P(TinyMistral, LlamaCppCrossCheckTest, ::testing::Values("F32", "Q8_0"));

}  // namespace
}  // namespace mg::engine
