#include "local_engine/serving/serving_engine.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "local_engine/serving/prefix_cache.h"

namespace mg::engine {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point from, Clock::time_point to) { return std::chrono::duration<double>(to - from).count(); }

// The budget's blocks, but no more than the running sequences can fill at their full context, twice over
// (the other half for the prefix cache).
std::uint32_t pool_blocks(const LlamaHyperParams& p, const ServingOptions& options) {
  const std::size_t budget_bytes = options.kv_cache_bytes;
  const std::uint32_t n_ctx = options.n_ctx ? std::min(options.n_ctx, p.n_ctx_train) : p.n_ctx_train;
  const std::size_t useful = 2ull * std::max(1u, options.max_running) * KvBlockPool::blocks_for(n_ctx);
  const std::size_t blocks = std::min(useful, budget_bytes / KvBlockPool::block_bytes(p));
  if (blocks == 0) {
    throw std::invalid_argument("a KV cache of " + std::to_string(budget_bytes >> 20) + " MiB cannot hold one block of " +
                                std::to_string(kKvBlockPositions) + " positions (" + std::to_string(KvBlockPool::block_bytes(p) >> 10) +
                                " KiB for this model)");
  }
  return static_cast<std::uint32_t>(std::min<std::size_t>(blocks, UINT32_MAX));
}

}  // namespace

struct ServingEngine::AtomicCounters {
  std::atomic<std::uint64_t> steps{0}, shared_steps{0}, max_sequences_in_step{0}, sequence_steps{0}, prompt_tokens{0},
      cached_prompt_tokens{0}, prefix_hits{0}, generated_tokens{0}, completed{0}, refused{0}, queued{0}, running{0};
};

// A request being answered: its sequence in the pool and its generation.
struct ServingEngine::Running {
  Running(std::shared_ptr<ServingRequest> request_in, KvBlockPool& pool, std::uint32_t n_ctx, const SentencePieceTokenizer& tokenizer)
      : request(std::move(request_in)), sequence(pool, n_ctx), generation(tokenizer, request->generation, request->constraint.get()) {}

  const std::vector<std::int32_t>& prompt() const { return request->generation.prompt; }
  bool reading_prompt() const { return prompt_fed < prompt().size(); }

  std::shared_ptr<ServingRequest> request;
  KvSequence sequence;
  Generation generation;
  std::vector<std::int32_t> fed;      // the tokens whose keys and values `sequence` holds, in order
  std::uint32_t prompt_fed = 0;       // prompt tokens in the cache, those from the prefix cache included
  std::optional<std::int32_t> next;   // sampled, to be fed at the next step
  std::vector<float> logits;          // [n_vocab] of the last fed token
  std::optional<Clock::time_point> first_fed;
  std::optional<Clock::time_point> first_token;
  ServingResult result;
  bool done = false;
};

ServingEngine::ServingEngine(std::shared_ptr<const Engine> engine, ServingOptions options)
    : engine_(std::move(engine)), options_(options),
      kv_pool_(engine_->model()->hparams(), pool_blocks(engine_->model()->hparams(), options)),
      forward_(engine_->model(), options.n_threads ? options.n_threads : std::max(1u, std::thread::hardware_concurrency())),
      prefix_cache_(std::make_unique<PrefixCache>(options.prefix_cache_entries)), counters_(std::make_unique<AtomicCounters>()) {
  const std::uint32_t trained = engine_->model()->hparams().n_ctx_train;
  // One sequence may use the whole pool, never more.
  n_ctx_ = std::min({options_.n_ctx ? options_.n_ctx : trained, trained, kv_pool_.n_blocks() * kKvBlockPositions});
  options_.max_running = std::max(1u, options_.max_running);
  thread_ = std::thread([this] { run(); });
}

ServingEngine::~ServingEngine() { stop(); }

void ServingEngine::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

ServingEngine::Admission ServingEngine::submit(std::shared_ptr<ServingRequest> request) {
  if (request->generation.prompt.empty()) throw std::invalid_argument("the prompt has no tokens");
  if (request->generation.prompt.size() > n_ctx_) return Admission::too_long;
  request->submitted = Clock::now();
  {
    std::lock_guard lock(mutex_);
    // Every request passes through waiting_ until the scheduler seats it: free seats count as room too.
    const std::size_t running = counters_->running.load(std::memory_order_relaxed);
    const std::size_t free_seats = options_.max_running > running ? options_.max_running - running : 0;
    if (stopping_ || waiting_.size() >= options_.max_queued + free_seats) {
      counters_->refused.fetch_add(1, std::memory_order_relaxed);
      return Admission::queue_full;
    }
    waiting_.push_back(std::move(request));
    counters_->queued.store(waiting_.size(), std::memory_order_relaxed);
  }
  wake_.notify_one();
  return Admission::accepted;
}

ServingCounters ServingEngine::counters() const {
  const AtomicCounters& c = *counters_;
  auto read = [](const std::atomic<std::uint64_t>& value) { return value.load(std::memory_order_relaxed); };
  return {read(c.steps),          read(c.shared_steps),     read(c.max_sequences_in_step), read(c.sequence_steps),
          read(c.prompt_tokens),  read(c.cached_prompt_tokens), read(c.prefix_hits),      read(c.generated_tokens),
          read(c.completed),      read(c.refused),          read(c.queued),                read(c.running)};
}

void ServingEngine::run() {
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !waiting_.empty() || !running_.empty(); });
      if (stopping_) break;
    }
    admit_waiting();
    if (!running_.empty()) step();
  }
  finish_all("cancelled", "the local engine is shutting down");
}

// Frees prefix-cache entries, oldest first, until `blocks` are free; false when even that is not enough.
bool ServingEngine::make_room(std::uint32_t blocks) {
  while (kv_pool_.n_free() < blocks && prefix_cache_->evict_oldest()) {
  }
  return kv_pool_.n_free() >= blocks;
}

void ServingEngine::pop_waiting() {
  std::lock_guard lock(mutex_);
  waiting_.pop_front();
  counters_->queued.store(waiting_.size(), std::memory_order_relaxed);
}

// Moves waiting requests into the batch while it has seats and the pool has room for their prompts.
void ServingEngine::admit_waiting() {
  while (running_.size() < options_.max_running) {
    std::shared_ptr<ServingRequest> request;
    {
      std::lock_guard lock(mutex_);
      if (waiting_.empty()) return;
      request = waiting_.front();
    }
    auto running = std::make_unique<Running>(request, kv_pool_, n_ctx_, engine_->tokenizer());
    if (request->cancelled.load() || Clock::now() >= request->deadline) {  // gone while it waited: no step for it
      pop_waiting();
      finish(*running, "cancelled", request->cancelled.load() ? "" : "the request's deadline passed");
      continue;
    }
    const auto& prompt = running->prompt();
    running->prompt_fed = prefix_cache_->start_from_longest_prefix(prompt, running->sequence);
    const std::uint32_t needed = running->sequence.blocks_needed(static_cast<std::uint32_t>(prompt.size()) - running->prompt_fed);
    if (!make_room(needed) && !running_.empty()) return;  // it waits for a running sequence to finish
    pop_waiting();
    running->fed.assign(prompt.begin(), prompt.begin() + running->prompt_fed);
    running->result.prompt_tokens = static_cast<std::uint32_t>(prompt.size());
    running->result.cached_prompt_tokens = running->prompt_fed;
    if (running->prompt_fed > 0) {
      counters_->prefix_hits.fetch_add(1, std::memory_order_relaxed);
      counters_->cached_prompt_tokens.fetch_add(running->prompt_fed, std::memory_order_relaxed);
    }
    running->logits.resize(engine_->model()->hparams().n_vocab);
    running_.push_back(std::move(running));
    counters_->running.store(running_.size(), std::memory_order_relaxed);
  }
}

// One forward pass: each decoding sequence's sampled token, and prompt chunks within the step's budget.
void ServingEngine::step() {
  std::vector<SequenceStep> steps;
  std::vector<Running*> fed;
  auto plan = [&] {
    steps.clear();
    fed.clear();
    std::uint32_t prompt_budget = std::max(1u, options_.max_prompt_tokens_per_step);
    for (auto& running : running_) {
      Running& r = *running;
      if (r.next) {
        steps.push_back({&r.sequence, std::span(&*r.next, 1), r.logits});
      } else if (r.reading_prompt() && prompt_budget > 0) {
        const std::uint32_t n = std::min<std::uint32_t>(prompt_budget, static_cast<std::uint32_t>(r.prompt().size()) - r.prompt_fed);
        prompt_budget -= n;
        const bool ends_prompt = r.prompt_fed + n == r.prompt().size();
        steps.push_back({&r.sequence, std::span(r.prompt()).subspan(r.prompt_fed, n), ends_prompt ? std::span<float>(r.logits) : std::span<float>()});
      } else {
        continue;
      }
      fed.push_back(&r);
    }
  };
  plan();
  // Room for this step; short of it, the newest sequence ends as if its context were full.
  auto blocks_wanted = [&] {
    std::uint32_t blocks = 0;
    for (const SequenceStep& s : steps) blocks += s.sequence->blocks_needed(static_cast<std::uint32_t>(s.tokens.size()));
    return blocks;
  };
  while (!make_room(blocks_wanted()) && running_.size() > 1) {
    finish(*running_.back(), "length");
    running_.pop_back();
    plan();
  }
  if (steps.empty()) return;
  const Clock::time_point started = Clock::now();
  try {
    forward_.evaluate(steps);
  } catch (const std::exception& e) {
    for (Running* r : fed) finish(*r, "error", std::string("the local engine failed: ") + e.what());
  }
  AtomicCounters& c = *counters_;
  c.steps.fetch_add(1, std::memory_order_relaxed);
  c.sequence_steps.fetch_add(steps.size(), std::memory_order_relaxed);
  if (steps.size() > 1) c.shared_steps.fetch_add(1, std::memory_order_relaxed);
  if (steps.size() > c.max_sequences_in_step.load(std::memory_order_relaxed)) c.max_sequences_in_step.store(steps.size(), std::memory_order_relaxed);
  for (std::size_t i = 0; i < fed.size(); ++i) {
    Running& r = *fed[i];
    if (r.done) continue;
    if (!r.first_fed) r.first_fed = started;
    const auto tokens = steps[i].tokens;
    r.fed.insert(r.fed.end(), tokens.begin(), tokens.end());
    if (r.next) {
      r.next.reset();
    } else {
      r.prompt_fed += static_cast<std::uint32_t>(tokens.size());
      c.prompt_tokens.fetch_add(tokens.size(), std::memory_order_relaxed);
    }
    if (!steps[i].logits.empty()) sample_and_stream(r, r.logits);
  }
  const Clock::time_point now = Clock::now();
  for (auto& running : running_) {
    Running& r = *running;
    if (r.done) continue;
    if (r.request->cancelled.load()) finish(r, "cancelled");
    else if (now >= r.request->deadline) finish(r, "cancelled", "the request's deadline passed");
  }
  std::erase_if(running_, [](const std::unique_ptr<Running>& r) { return r->done; });
  c.running.store(running_.size(), std::memory_order_relaxed);
}

void ServingEngine::sample_and_stream(Running& r, std::span<float> logits) {
  if (!r.first_token) r.first_token = Clock::now();
  try {
    r.next = r.generation.step(logits, r.request->on_piece, r.sequence.n_past() >= n_ctx_);
  } catch (const std::exception& e) {  // every token banned by logit_bias, say: this request's fault alone
    return finish(r, "error", std::string("cannot sample: ") + e.what());
  }
  if (!r.next) finish(r, r.generation.finish_reason());
}

// Reports the request's end and keeps its keys and values in the prefix cache for later prompts.
void ServingEngine::finish(Running& r, std::string reason, std::string error) {
  if (r.done) return;
  r.done = true;
  const Clock::time_point now = Clock::now();
  r.result.completion_tokens = r.generation.completion_tokens();
  r.result.finish_reason = std::move(reason);
  r.result.stop_sequence = r.generation.stop_sequence();
  r.result.error = std::move(error);
  r.result.queue_seconds = seconds_between(r.request->submitted, r.first_fed.value_or(now));
  r.result.first_token_seconds = r.first_token ? seconds_between(r.request->submitted, *r.first_token) : 0.0;
  r.result.total_seconds = seconds_between(r.request->submitted, now);
  counters_->generated_tokens.fetch_add(r.result.completion_tokens, std::memory_order_relaxed);
  counters_->completed.fetch_add(1, std::memory_order_relaxed);
  if (r.result.finish_reason != "error") prefix_cache_->insert(std::move(r.fed), std::move(r.sequence));
  else r.sequence.clear();
  if (r.request->on_done) r.request->on_done(r.result);
}

void ServingEngine::finish_all(const std::string& reason, const std::string& error) {
  for (auto& running : running_) finish(*running, reason, error);
  running_.clear();
  std::deque<std::shared_ptr<ServingRequest>> waiting;
  {
    std::lock_guard lock(mutex_);
    waiting.swap(waiting_);
  }
  for (auto& request : waiting) {
    ServingResult result;
    result.prompt_tokens = static_cast<std::uint32_t>(request->generation.prompt.size());
    result.finish_reason = reason;
    result.error = error;
    if (request->on_done) request->on_done(result);
  }
  counters_->queued.store(0);
  counters_->running.store(0);
}

}  // namespace mg::engine
