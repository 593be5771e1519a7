// The local engine's scheduler under concurrency, on one GGUF file (or, without --model, a tiny synthetic
// one). Two measurements, each round on a fresh scheduler so no round inherits another's cache:
//
//   batching  the same answer length decoded by one request alone, then by --concurrency requests at
//             once: tokens/s of the one, aggregate tokens/s of the many, and the mean sequences per
//             forward pass the scheduler's counters saw. Continuous batching makes the many share each
//             pass, so a weight row read from memory serves all of them.
//   prefix    a chat's first turn (a --system-tokens system prompt and a question), then its second turn
//             (the whole conversation so far and a new question): time to first token of each, and of
//             the second turn on a scheduler with an empty cache, as the control. The second turn
//             starts from the first's keys and values (the prefix cache).
//
//   build/release/bench/mg_bench_local_serving [--model FILE.gguf] [--threads N] [--concurrency 8]
//                                              [--tokens 64] [--system-tokens 256] [--rounds 3]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "local_engine/model/synthetic_model.h"
#include "local_engine/serving/serving_engine.h"

namespace {

using namespace mg::engine;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string model;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::uint32_t concurrency = 8;
  std::uint32_t tokens = 64;
  std::uint32_t system_tokens = 256;
  int rounds = 3;
};

std::vector<std::int32_t> random_tokens(std::size_t count, std::uint32_t n_vocab, std::uint32_t seed) {
  std::mt19937 random(seed);
  std::vector<std::int32_t> tokens;
  while (tokens.size() < count) tokens.push_back(static_cast<std::int32_t>(3 + random() % (n_vocab - 3)));
  return tokens;
}

// Greedy, EOS banned: every answer is exactly `tokens` long.
GenerationRequest fixed_length(const Engine& engine, std::vector<std::int32_t> prompt, std::uint32_t tokens) {
  GenerationRequest request;
  request.prompt = std::move(prompt);
  request.prompt.insert(request.prompt.begin(), engine.tokenizer().bos_id());
  request.sampling.temperature = 0;
  request.sampling.logit_bias[engine.tokenizer().eos_id()] = -100;
  request.max_tokens = tokens;
  return request;
}

struct Answer {
  ServingResult result;
  std::vector<std::int32_t> tokens;
};

std::vector<Answer> run_together(ServingEngine& serving, const std::vector<GenerationRequest>& requests) {
  std::vector<std::future<Answer>> futures;
  for (const GenerationRequest& generation : requests) {
    auto request = std::make_shared<ServingRequest>();
    request->generation = generation;
    auto answer = std::make_shared<Answer>();
    auto promise = std::make_shared<std::promise<Answer>>();
    request->on_piece = [answer](const GeneratedPiece& piece) {
      if (piece.token) answer->tokens.push_back(piece.token->token);
      return true;
    };
    request->on_done = [answer, promise](const ServingResult& result) {
      answer->result = result;
      promise->set_value(*answer);
    };
    futures.push_back(promise->get_future());
    if (serving.submit(request) != ServingEngine::Admission::accepted) throw std::runtime_error("the scheduler refused a request");
  }
  std::vector<Answer> answers;
  for (auto& future : futures) answers.push_back(future.get());
  return answers;
}

ServingOptions serving_options(const Options& options) {
  ServingOptions serving;
  serving.n_threads = options.threads;
  serving.n_ctx = 4096;
  serving.kv_cache_bytes = 2ull << 30;
  serving.max_running = std::max(16u, options.concurrency);
  return serving;
}

// Decode tokens/s: one request alone, then `concurrency` at once.
void batching_round(const std::shared_ptr<const Engine>& engine, const Options& options, int round) {
  const std::uint32_t n_vocab = engine->model()->hparams().n_vocab;
  auto tokens_per_second = [&](std::uint32_t n_requests, double& mean_batch) {
    ServingEngine serving(engine, serving_options(options));
    std::vector<GenerationRequest> requests;
    for (std::uint32_t i = 0; i < n_requests; ++i) {
      requests.push_back(fixed_length(*engine, random_tokens(16, n_vocab, 100 * static_cast<std::uint32_t>(round) + i), options.tokens));
    }
    const Clock::time_point start = Clock::now();
    std::vector<Answer> answers = run_together(serving, requests);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    ServingCounters counters = serving.counters();
    mean_batch = static_cast<double>(counters.sequence_steps) / static_cast<double>(counters.steps);
    return static_cast<double>(counters.generated_tokens) / seconds;
  };
  double alone_batch = 0, together_batch = 0;
  const double alone = tokens_per_second(1, alone_batch);
  const double together = tokens_per_second(options.concurrency, together_batch);
  std::printf("batching %d   1 alone %8.1f tok/s | %u at once %8.1f tok/s aggregate, %.2f sequences per pass | %.2fx\n", round, alone,
              options.concurrency, together, together_batch, together / alone);
}

// Time to first token of a chat's second turn, with and without the first turn's cache.
void prefix_round(const std::shared_ptr<const Engine>& engine, const Options& options, int round) {
  const std::uint32_t n_vocab = engine->model()->hparams().n_vocab;
  const auto seed = static_cast<std::uint32_t>(round);
  std::vector<std::int32_t> first_turn = random_tokens(options.system_tokens, n_vocab, 7 + seed);
  for (std::int32_t t : random_tokens(24, n_vocab, 1000 + seed)) first_turn.push_back(t);
  ServingEngine serving(engine, serving_options(options));
  Answer first = run_together(serving, {fixed_length(*engine, first_turn, 16)}).front();
  std::vector<std::int32_t> second_turn = first_turn;
  second_turn.insert(second_turn.end(), first.tokens.begin(), first.tokens.end());
  for (std::int32_t t : random_tokens(24, n_vocab, 2000 + seed)) second_turn.push_back(t);
  GenerationRequest second_request = fixed_length(*engine, second_turn, 16);
  Answer second = run_together(serving, {second_request}).front();
  ServingEngine cold(engine, serving_options(options));
  Answer control = run_together(cold, {second_request}).front();
  std::printf("prefix %d     turn 1 TTFT %7.1f ms (%u prompt tokens) | turn 2 TTFT %7.1f ms (%u of %u from the cache) | "
              "turn 2 without cache %7.1f ms | %.2fx faster\n",
              round, first.result.first_token_seconds * 1e3, first.result.prompt_tokens, second.result.first_token_seconds * 1e3,
              second.result.cached_prompt_tokens, second.result.prompt_tokens, control.result.first_token_seconds * 1e3,
              control.result.first_token_seconds / second.result.first_token_seconds);
}

std::shared_ptr<const Engine> load_or_synthesize(const std::string& model) {
  if (!model.empty()) return Engine::load(model);
  auto path = std::filesystem::temp_directory_path() / ("mg_bench_serving_" + std::to_string(::getpid()) + ".gguf");
  SyntheticModelSpec spec = synthetic_preset("tiny-mistral");
  spec.file_type = "Q8_0";
  spec.hparams.n_ctx_train = 4096;
  synthetic_model_writer(spec).write(path);
  auto engine = Engine::load(path);
  std::filesystem::remove(path);
  return engine;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--model") options.model = argv[i + 1];
    else if (flag == "--threads") options.threads = static_cast<unsigned>(std::stoul(argv[i + 1]));
    else if (flag == "--concurrency") options.concurrency = static_cast<std::uint32_t>(std::stoul(argv[i + 1]));
    else if (flag == "--tokens") options.tokens = static_cast<std::uint32_t>(std::stoul(argv[i + 1]));
    else if (flag == "--system-tokens") options.system_tokens = static_cast<std::uint32_t>(std::stoul(argv[i + 1]));
    else if (flag == "--rounds") options.rounds = std::stoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s (see the file's header)\n", flag.c_str());
      return 2;
    }
  }
  std::shared_ptr<const Engine> engine = load_or_synthesize(options.model);
  std::printf("model: %s (%s), %u threads\n", options.model.empty() ? "tiny synthetic" : options.model.c_str(),
              engine->model()->hparams().summary().c_str(), options.threads);
  for (int round = 1; round <= options.rounds; ++round) {
    batching_round(engine, options, round);
    prefix_round(engine, options, round);
  }
  return 0;
}
