#include "local_engine/model/llama_model.h"

#include <unistd.h>

#include <filesystem>
#include <random>

#include <gtest/gtest.h>

#include "local_engine/model/synthetic_model.h"

namespace mg::engine {
namespace {

std::shared_ptr<const LlamaModel> tiny_model(const std::string& shape, const std::string& file_type) {
  auto path = std::filesystem::temp_directory_path() / ("mg_session_" + std::to_string(::getpid()) + "_" + shape + ".gguf");
  SyntheticModelSpec spec = synthetic_preset(shape);
  spec.file_type = file_type;
  synthetic_model_writer(spec).write(path);
  auto model = LlamaModel::load(path);
  std::filesystem::remove(path);  // the mapping keeps the bytes
  return model;
}

std::vector<std::int32_t> random_tokens(std::size_t count, std::uint32_t n_vocab) {
  std::mt19937 random(1);
  std::vector<std::int32_t> tokens;
  while (tokens.size() < count) tokens.push_back(static_cast<std::int32_t>(3 + random() % (n_vocab - 3)));
  return tokens;
}

// A prompt longer than one batch, evaluated at once, gives exactly the logits of feeding it token by
// token: batching changes how often weights are read, not one bit of the arithmetic.
TEST(LlamaSessionTest, BatchedPromptsGiveExactlyTheLogitsOfOneTokenAtATime) {
  for (const char* shape : {"tiny-mistral", "tiny-mixtral"}) {
    auto model = tiny_model(shape, "Q4_K_M");
    std::vector<std::int32_t> prompt = random_tokens(LlamaSession::kMaxBatch + 40, model->hparams().n_vocab);
    LlamaSession batched(model, 512);
    std::vector<float> all = batched.evaluate(prompt, true);
    LlamaSession one_by_one(model, 512);
    const std::size_t n_vocab = model->hparams().n_vocab;
    for (std::size_t t = 0; t < prompt.size(); ++t) {
      std::vector<float> logits = one_by_one.evaluate(std::span(&prompt[t], 1));
      ASSERT_TRUE(std::equal(logits.begin(), logits.end(), all.begin() + static_cast<std::ptrdiff_t>(t * n_vocab))) << shape << ", token " << t;
    }
    std::vector<float> last_only = LlamaSession(model, 512).evaluate(prompt);
    EXPECT_TRUE(std::equal(last_only.begin(), last_only.end(), all.end() - static_cast<std::ptrdiff_t>(n_vocab))) << shape;
  }
}

// The threads split the rows of each product; every row is computed as on one thread.
TEST(LlamaSessionTest, ThreadsChangeNothingInTheLogits) {
  auto model = tiny_model("tiny-mixtral", "Q4_K_M");
  std::vector<std::int32_t> prompt = random_tokens(40, model->hparams().n_vocab);
  std::vector<float> one = LlamaSession(model, 64, 1).evaluate(prompt, true);
  for (unsigned threads : {2u, 3u}) EXPECT_EQ(LlamaSession(model, 64, threads).evaluate(prompt, true), one) << threads << " threads";
}

TEST(LlamaSessionTest, FillsTheContextToItsLastPositionAndNoFurther) {
  auto model = tiny_model("tiny-mistral", "F32");
  LlamaSession session(model, 16);
  std::vector<std::int32_t> tokens = random_tokens(16, model->hparams().n_vocab);
  session.evaluate(std::span(tokens).first(10));
  session.evaluate(std::span(tokens).subspan(10));
  EXPECT_EQ(session.n_past(), 16u);
  EXPECT_THROW(session.evaluate(std::span(tokens).first(1)), std::length_error);
  session.reset();
  EXPECT_EQ(session.n_past(), 0u);
  std::int32_t outside = static_cast<std::int32_t>(model->hparams().n_vocab);
  EXPECT_THROW(session.evaluate(std::span(&outside, 1)), std::invalid_argument);
}

}  // namespace
}  // namespace mg::engine
