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

// Continuous batching: three sequences fed together (their prompts in one pass, then a decode token each
// per pass) get exactly the logits each gets alone. Rows of different sequences share the products but
// never each other's keys and values.
TEST(LlamaForwardTest, SequencesBatchedTogetherGetExactlyTheLogitsTheyGetAlone) {
  for (const char* shape : {"tiny-mistral", "tiny-mixtral"}) {
    auto model = tiny_model(shape, "Q4_K_M");
    const std::size_t n_vocab = model->hparams().n_vocab;
    std::vector<std::vector<std::int32_t>> prompts;
    for (std::size_t length : {5u, 33u, 70u}) {
      std::vector<std::int32_t> prompt = random_tokens(length + prompts.size(), n_vocab);
      prompts.push_back(std::vector<std::int32_t>(prompt.end() - static_cast<std::ptrdiff_t>(length), prompt.end()));
    }
    std::vector<std::int32_t> decoded = random_tokens(6, n_vocab);

    std::vector<std::vector<float>> alone;  // per sequence: the prompt's last logits, then each decode step's
    for (const auto& prompt : prompts) {
      LlamaSession session(model, 128);
      std::vector<float> logits = session.evaluate(prompt);
      for (std::int32_t token : decoded) {
        std::vector<float> next = session.evaluate(std::span(&token, 1));
        logits.insert(logits.end(), next.begin(), next.end());
      }
      alone.push_back(std::move(logits));
    }

    KvBlockPool pool(model->hparams(), 64);
    LlamaForward forward(model);
    std::vector<KvSequence> sequences;
    for (std::size_t i = 0; i < prompts.size(); ++i) sequences.emplace_back(pool, 128);
    std::vector<std::vector<float>> together(prompts.size(), std::vector<float>((decoded.size() + 1) * n_vocab));
    std::vector<SequenceStep> steps;
    for (std::size_t i = 0; i < prompts.size(); ++i) steps.push_back({&sequences[i], prompts[i], std::span(together[i]).first(n_vocab)});
    forward.evaluate(steps);
    for (std::size_t d = 0; d < decoded.size(); ++d) {
      steps.clear();
      for (std::size_t i = 0; i < prompts.size(); ++i) {
        steps.push_back({&sequences[i], std::span(&decoded[d], 1), std::span(together[i]).subspan((d + 1) * n_vocab, n_vocab)});
      }
      forward.evaluate(steps);
    }
    for (std::size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(together[i], alone[i]) << shape << ", sequence " << i;
  }
}

// The prefix cache's mechanism: a sequence that starts as another's first n positions (full blocks shared,
// a partial one copied) and is fed the rest gets the logits of feeding the whole prompt, and the source
// sequence is unharmed by what the sharer writes.
TEST(LlamaForwardTest, ASharedPrefixGivesTheLogitsOfTheWholePrompt) {
  auto model = tiny_model("tiny-mistral", "Q8_0");
  std::vector<std::int32_t> prompt = random_tokens(90, model->hparams().n_vocab);
  std::vector<float> whole = LlamaSession(model, 128).evaluate(prompt);
  KvBlockPool pool(model->hparams(), 16);
  LlamaForward forward(model);
  KvSequence source(pool, 128);
  std::vector<std::int32_t> other_ending = random_tokens(70, model->hparams().n_vocab);
  std::copy(prompt.begin(), prompt.begin() + 64, other_ending.begin());
  SequenceStep fill{&source, other_ending, {}};
  forward.evaluate(std::span(&fill, 1));
  for (std::uint32_t shared : {64u, 40u, 1u}) {  // two whole blocks; one block and a copied part; a copied part
    KvSequence sharer(pool, 128);
    ASSERT_TRUE(sharer.share_prefix(source, shared));
    EXPECT_EQ(pool.holders(source.block(0)), shared >= kKvBlockPositions ? 2u : 1u);
    std::vector<float> logits(model->hparams().n_vocab);
    SequenceStep rest{&sharer, std::span(prompt).subspan(shared), logits};
    forward.evaluate(std::span(&rest, 1));
    EXPECT_EQ(logits, whole) << shared << " positions shared";
  }
  KvSequence again(pool, 128);  // the source's own keys and values are as they were
  ASSERT_TRUE(again.share_prefix(source, 64));
  std::vector<float> logits(model->hparams().n_vocab);
  SequenceStep rest{&again, std::span(prompt).subspan(64), logits};
  forward.evaluate(std::span(&rest, 1));
  EXPECT_EQ(logits, whole);
}

TEST(LlamaForwardTest, APoolWithoutRoomFeedsNothingAndClearingGivesTheBlocksBack) {
  auto model = tiny_model("tiny-mistral", "F32");
  KvBlockPool pool(model->hparams(), 3);
  LlamaForward forward(model);
  KvSequence first(pool, 256);
  KvSequence second(pool, 256);
  std::vector<std::int32_t> tokens = random_tokens(64, model->hparams().n_vocab);
  SequenceStep fill{&first, tokens, {}};
  forward.evaluate(std::span(&fill, 1));
  EXPECT_EQ(pool.n_free(), 1u);
  std::vector<SequenceStep> both = {{&first, std::span(tokens).first(1), {}}, {&second, std::span(tokens).first(1), {}}};
  EXPECT_THROW(forward.evaluate(both), KvPoolExhausted);  // one block for each, one free
  EXPECT_EQ(first.n_past(), 64u);
  EXPECT_EQ(second.n_past(), 0u);
  EXPECT_EQ(pool.n_free(), 1u);
  first.clear();
  EXPECT_EQ(pool.n_free(), 3u);
  EXPECT_THROW(forward.evaluate(std::vector<SequenceStep>{{&first, tokens, {}}, {&first, tokens, {}}}), std::invalid_argument);
}

}  // namespace
}  // namespace mg::engine
