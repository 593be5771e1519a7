#include "local_engine/serving/serving_engine.h"

#include <unistd.h>

#include <filesystem>
#include <future>
#include <random>

#include <gtest/gtest.h>

#include "local_engine/model/synthetic_model.h"

namespace mg::engine {
namespace {

std::shared_ptr<const Engine> tiny_engine() {
  static std::shared_ptr<const Engine> engine = [] {
    auto path = std::filesystem::temp_directory_path() / ("mg_serving_" + std::to_string(::getpid()) + ".gguf");
    SyntheticModelSpec spec = synthetic_preset("tiny-mistral");
    spec.file_type = "Q4_K_M";  // its kernels give every row the same bits whatever the batch
    synthetic_model_writer(spec).write(path);
    auto loaded = Engine::load(path);
    std::filesystem::remove(path);  // the mapping keeps the bytes
    return loaded;
  }();
  return engine;
}

std::vector<std::int32_t> random_prompt(std::size_t count, std::uint32_t seed) {
  std::mt19937 random(seed);
  std::vector<std::int32_t> tokens = {1};
  while (tokens.size() < count) tokens.push_back(static_cast<std::int32_t>(3 + random() % 250));
  return tokens;
}

GenerationRequest greedy_request(std::vector<std::int32_t> prompt, std::uint32_t max_tokens) {
  GenerationRequest request;
  request.prompt = std::move(prompt);
  request.sampling.temperature = 0;
  request.sampling.logit_bias[tiny_engine()->tokenizer().eos_id()] = -100;  // every answer runs to max_tokens
  request.max_tokens = max_tokens;
  return request;
}

// What one request streamed, and how it ended.
struct Outcome {
  std::vector<std::int32_t> tokens;
  std::string text;
  ServingResult result;
};

// Submits a request whose outcome arrives in the future. With `hold` valid, the scheduler's thread waits for
// it before streaming each piece, so the test decides when this request gets past its first token.
std::future<Outcome> submit(ServingEngine& serving, GenerationRequest generation, std::shared_ptr<ServingRequest>* handle = nullptr,
                            std::shared_future<void> hold = {}) {
  auto request = std::make_shared<ServingRequest>();
  request->generation = std::move(generation);
  auto outcome = std::make_shared<Outcome>();
  auto promise = std::make_shared<std::promise<Outcome>>();
  request->on_piece = [outcome, hold](const GeneratedPiece& piece) {
    if (hold.valid()) hold.wait();
    if (piece.token) outcome->tokens.push_back(piece.token->token);
    outcome->text += piece.text;
    return true;
  };
  request->on_done = [outcome, promise](const ServingResult& result) {
    outcome->result = result;
    promise->set_value(*outcome);
  };
  if (handle) *handle = request;
  EXPECT_EQ(serving.submit(request), ServingEngine::Admission::accepted);
  return promise->get_future();
}

// The same request alone on a session of its own.
std::vector<std::int32_t> alone(const GenerationRequest& request) {
  LlamaSession session(tiny_engine()->model(), 512);
  std::vector<std::int32_t> tokens;
  tiny_engine()->generate(session, request, [&](const GeneratedPiece& piece) {
    if (piece.token) tokens.push_back(piece.token->token);
    return true;
  });
  return tokens;
}

ServingOptions small_options() {
  ServingOptions options;
  options.n_threads = 1;
  options.n_ctx = 512;
  options.kv_cache_bytes = 64ull << 20;
  return options;
}

// Eight requests at once decode together (one pass feeds all eight), and each gets exactly the tokens it
// gets alone.
TEST(ServingEngineTest, ConcurrentRequestsDecodeInSharedBatchesAndAnswerAsAlone) {
  ServingEngine serving(tiny_engine(), small_options());
  std::vector<GenerationRequest> requests;
  std::vector<std::future<Outcome>> outcomes;
  for (std::uint32_t i = 0; i < 8; ++i) requests.push_back(greedy_request(random_prompt(10 + 7 * i, i), 24));
  // The first request's first token waits until all eight are queued: on a busy machine this thread may
  // otherwise lose the processor long enough for the first answers to end before the last one arrives.
  std::promise<void> all_submitted;
  outcomes.push_back(submit(serving, requests[0], nullptr, all_submitted.get_future().share()));
  for (std::size_t i = 1; i < requests.size(); ++i) outcomes.push_back(submit(serving, requests[i]));
  all_submitted.set_value();
  for (std::size_t i = 0; i < requests.size(); ++i) {
    Outcome outcome = outcomes[i].get();
    EXPECT_EQ(outcome.result.finish_reason, "length");
    EXPECT_EQ(outcome.result.completion_tokens, 24u);
    EXPECT_EQ(outcome.result.prompt_tokens, requests[i].prompt.size());
    EXPECT_EQ(outcome.tokens, alone(requests[i])) << "request " << i;
  }
  ServingCounters counters = serving.counters();
  EXPECT_EQ(counters.max_sequences_in_step, 8u);
  EXPECT_GT(counters.shared_steps, 0u);
  EXPECT_LT(counters.steps, 8u * 24u);  // far fewer passes than tokens generated
  EXPECT_EQ(counters.generated_tokens, 8u * 24u);
  EXPECT_EQ(counters.completed, 8u);
}

// A second request that begins as a finished one did (the same system prompt, the next turn) starts from
// its keys and values, and answers exactly as it would have from scratch.
TEST(ServingEngineTest, ASharedPrefixIsTakenFromTheCacheAndChangesNothing) {
  ServingEngine serving(tiny_engine(), small_options());
  std::vector<std::int32_t> system = random_prompt(70, 7);
  std::vector<std::int32_t> first_turn = system;
  for (std::int32_t t : random_prompt(12, 8)) first_turn.push_back(t);
  Outcome first = submit(serving, greedy_request(first_turn, 8)).get();
  EXPECT_EQ(first.result.cached_prompt_tokens, 0u);

  std::vector<std::int32_t> next_turn = first_turn;  // the conversation so far, then more
  next_turn.insert(next_turn.end(), first.tokens.begin(), first.tokens.end() - 1);
  for (std::int32_t t : random_prompt(9, 9)) next_turn.push_back(t);
  GenerationRequest request = greedy_request(next_turn, 8);
  Outcome second = submit(serving, request).get();
  EXPECT_EQ(second.result.cached_prompt_tokens, first_turn.size() + first.tokens.size() - 1);
  EXPECT_EQ(second.tokens, alone(request));

  std::vector<std::int32_t> other_question = system;
  for (std::int32_t t : random_prompt(5, 10)) other_question.push_back(t);
  Outcome third = submit(serving, greedy_request(other_question, 4)).get();
  EXPECT_EQ(third.result.cached_prompt_tokens, system.size() + 1);  // BOS of the tail prompt matches too
  EXPECT_EQ(third.tokens, alone(greedy_request(other_question, 4)));
  ServingCounters counters = serving.counters();
  EXPECT_EQ(counters.prefix_hits, 2u);
  EXPECT_EQ(counters.cached_prompt_tokens, second.result.cached_prompt_tokens + third.result.cached_prompt_tokens);
}

TEST(ServingEngineTest, RefusesBeyondTheQueueAndPromptsThatCanNeverFit) {
  ServingOptions options = small_options();
  options.max_running = 1;
  options.max_queued = 1;
  ServingEngine serving(tiny_engine(), options);
  auto make = [](std::size_t length) {
    auto request = std::make_shared<ServingRequest>();
    request->generation = greedy_request(random_prompt(length, 1), 200);
    request->on_piece = [](const GeneratedPiece&) { return true; };
    return request;
  };
  EXPECT_EQ(serving.submit(make(600)), ServingEngine::Admission::too_long);
  std::vector<std::shared_ptr<ServingRequest>> accepted;
  int refused = 0;
  for (int i = 0; i < 4; ++i) {
    auto request = make(10);
    if (serving.submit(request) == ServingEngine::Admission::accepted) accepted.push_back(request);
    else ++refused;
  }
  EXPECT_GE(refused, 2);  // one runs, one waits: the others are refused
  EXPECT_EQ(serving.counters().refused, static_cast<std::uint64_t>(refused));
  for (auto& request : accepted) request->cancelled = true;
}

TEST(ServingEngineTest, CancellationAndDeadlinesEndARequestAtTheNextStep) {
  ServingEngine serving(tiny_engine(), small_options());
  std::shared_ptr<ServingRequest> handle;
  GenerationRequest endless = greedy_request(random_prompt(20, 3), 100000);
  auto cancelled = submit(serving, endless, &handle);
  auto late = [&] {
    auto request = std::make_shared<ServingRequest>();
    request->generation = endless;
    request->deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
    auto promise = std::make_shared<std::promise<ServingResult>>();
    request->on_piece = [](const GeneratedPiece&) { return true; };
    request->on_done = [promise](const ServingResult& result) { promise->set_value(result); };
    EXPECT_EQ(serving.submit(request), ServingEngine::Admission::accepted);
    return promise->get_future();
  }();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  handle->cancelled = true;
  Outcome outcome = cancelled.get();
  EXPECT_EQ(outcome.result.finish_reason, "cancelled");
  EXPECT_LT(outcome.result.completion_tokens, 100000u);
  ServingResult expired = late.get();
  EXPECT_EQ(expired.finish_reason, "cancelled");
  EXPECT_NE(expired.error.find("deadline"), std::string::npos);
}

// A request that asks to stop from its own callback (the client went away) ends there.
TEST(ServingEngineTest, ACallbackReturningFalseCancels) {
  ServingEngine serving(tiny_engine(), small_options());
  auto request = std::make_shared<ServingRequest>();
  request->generation = greedy_request(random_prompt(8, 4), 50);
  int pieces = 0;
  std::promise<ServingResult> done;
  request->on_piece = [&](const GeneratedPiece&) { return ++pieces < 3; };
  request->on_done = [&](const ServingResult& result) { done.set_value(result); };
  ASSERT_EQ(serving.submit(request), ServingEngine::Admission::accepted);
  ServingResult result = done.get_future().get();
  EXPECT_EQ(result.finish_reason, "cancelled");
  EXPECT_EQ(pieces, 3);
}

// Bytes of a pool of `blocks` blocks for the tiny model.
std::size_t pool_of(std::uint32_t blocks) { return blocks * KvBlockPool::block_bytes(tiny_engine()->model()->hparams()); }

// A pool too small to keep every finished prompt: the prefix cache gives up its oldest entries and every
// request is still served, exactly as alone.
TEST(ServingEngineTest, APoolTooSmallForTheCacheEvictsItsOldestEntries) {
  ServingOptions options = small_options();
  options.kv_cache_bytes = pool_of(6);  // 192 positions: room for two of these requests' keys and values
  ServingEngine serving(tiny_engine(), options);
  for (std::uint32_t i = 0; i < 6; ++i) {
    GenerationRequest request = greedy_request(random_prompt(60, 50 + i), 8);
    Outcome outcome = submit(serving, request).get();
    ASSERT_EQ(outcome.result.finish_reason, "length") << outcome.result.error;
    EXPECT_EQ(outcome.tokens, alone(request)) << "request " << i;
  }
  EXPECT_EQ(serving.counters().completed, 6u);
}

// When the pool runs dry mid-answer, the newest request ends as if its context were full and the older
// one finishes whole.
TEST(ServingEngineTest, WhenThePoolRunsDryTheNewestRequestGivesWay) {
  ServingOptions options = small_options();
  options.kv_cache_bytes = pool_of(8);  // 256 positions for two answers that want 180 each
  options.prefix_cache_entries = 0;
  ServingEngine serving(tiny_engine(), options);
  std::vector<std::future<Outcome>> outcomes;
  std::promise<void> both_submitted;  // so the older cannot finish before the newer arrives
  outcomes.push_back(submit(serving, greedy_request(random_prompt(20, 60), 160), nullptr, both_submitted.get_future().share()));
  outcomes.push_back(submit(serving, greedy_request(random_prompt(20, 61), 160)));
  both_submitted.set_value();
  Outcome older = outcomes[0].get();
  Outcome newer = outcomes[1].get();
  EXPECT_EQ(older.result.completion_tokens, 160u);
  EXPECT_EQ(newer.result.finish_reason, "length");
  EXPECT_LT(newer.result.completion_tokens, 160u);
  EXPECT_EQ(older.tokens, alone(greedy_request(random_prompt(20, 60), 160)));
}

}  // namespace
}  // namespace mg::engine
