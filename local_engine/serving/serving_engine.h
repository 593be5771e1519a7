// Serving many requests at once on one loaded model: a bounded queue in front of a scheduler thread
// that runs continuous batching. Each step is one forward pass over every running sequence's next token
// and a chunk of the prompts of sequences still being read, so requests join the batch as they arrive
// and leave it as they finish, and a weight row read from memory serves all of them. Keys and values
// live in one block pool (the memory budget); a new prompt starts from the longest prefix a finished
// sequence left in the prefix cache. Deadlines and cancellation are checked at every step.
//
// Callbacks run on the scheduler's thread and must be quick: hand the text to another thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "local_engine/engine/engine.h"
#include "local_engine/engine/generation.h"

namespace mg::engine {

struct ServingOptions {
  unsigned n_threads = 0;                    // threads of the matrix products (0: one per core)
  std::uint32_t n_ctx = 0;                   // positions a sequence may hold (0: the model's training context)
  std::size_t kv_cache_bytes = 1ull << 30;   // the block pool shared by every sequence and the prefix cache
  std::uint32_t max_running = 16;            // sequences in one batch
  std::size_t max_queued = 64;               // requests waiting beyond the running ones; more are refused
  std::uint32_t max_prompt_tokens_per_step = LlamaForward::kMaxBatch;  // prompt chunks, so decoding never stalls long
  std::size_t prefix_cache_entries = 32;
};

struct ServingResult {
  std::uint32_t prompt_tokens = 0;
  std::uint32_t cached_prompt_tokens = 0;  // of prompt_tokens, taken from the prefix cache
  std::uint32_t completion_tokens = 0;
  std::string finish_reason;  // "stop", "length", "cancelled", or "error" (then `error` says why)
  std::string stop_sequence;  // the stop string that ended the answer; '' for none
  std::string error;
  double queue_seconds = 0;        // from submit() to the first step that fed it
  double first_token_seconds = 0;  // from submit() to the first sampled token
  double total_seconds = 0;
};

struct ServingRequest {
  GenerationRequest generation;
  std::unique_ptr<TokenConstraint> constraint;  // may be null
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  PieceCallback on_piece;                             // returning false cancels
  std::function<void(const ServingResult&)> on_done;  // exactly once, last
  std::atomic<bool> cancelled{false};                 // set from any thread; seen at the next step
  std::chrono::steady_clock::time_point submitted;    // set by submit()
};

// Monotonic counters and gauges, read from any thread.
struct ServingCounters {
  std::uint64_t steps = 0;                  // forward passes
  std::uint64_t shared_steps = 0;           // passes that fed more than one sequence
  std::uint64_t max_sequences_in_step = 0;
  std::uint64_t sequence_steps = 0;         // sum over passes of the sequences fed: / steps = mean batch
  std::uint64_t prompt_tokens = 0;          // fed from prompts
  std::uint64_t cached_prompt_tokens = 0;   // taken from the prefix cache instead
  std::uint64_t prefix_hits = 0;            // requests that started from a cached prefix
  std::uint64_t generated_tokens = 0;
  std::uint64_t completed = 0;
  std::uint64_t refused = 0;                // the queue was full
  std::uint64_t queued = 0;                 // now
  std::uint64_t running = 0;                // now
};

class ServingEngine {
 public:
  // Starts the scheduler thread. std::invalid_argument when the KV budget cannot hold one sequence's block.
  ServingEngine(std::shared_ptr<const Engine> engine, ServingOptions options);
  // Cancels what is queued or running (each gets its on_done) and stops the thread; later submits are
  // refused. Idempotent; the destructor calls it.
  void stop();
  ~ServingEngine();

  ServingEngine(const ServingEngine&) = delete;
  ServingEngine& operator=(const ServingEngine&) = delete;

  enum class Admission { accepted, queue_full, too_long };
  // Queues `request`. queue_full (try later) and too_long (the prompt and max_tokens can never fit one
  // sequence) are refusals: nothing is called back then.
  Admission submit(std::shared_ptr<ServingRequest> request);

  ServingCounters counters() const;
  const Engine& engine() const { return *engine_; }
  std::uint32_t n_ctx() const { return n_ctx_; }
  std::uint32_t kv_blocks() const { return kv_pool_.n_blocks(); }

 private:
  struct Running;

  void run();
  void admit_waiting();
  void pop_waiting();
  bool make_room(std::uint32_t blocks);
  void step();
  void sample_and_stream(Running& sequence, std::span<float> logits);
  void finish(Running& sequence, std::string reason, std::string error = {});
  void finish_all(const std::string& reason, const std::string& error);

  std::shared_ptr<const Engine> engine_;
  ServingOptions options_;
  std::uint32_t n_ctx_;
  KvBlockPool kv_pool_;
  LlamaForward forward_;
  std::unique_ptr<class PrefixCache> prefix_cache_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<ServingRequest>> waiting_;  // guarded by mutex_
  bool stopping_ = false;                                // guarded by mutex_
  std::vector<std::unique_ptr<Running>> running_;        // the scheduler thread's alone

  struct AtomicCounters;
  std::unique_ptr<AtomicCounters> counters_;
  std::thread thread_;
};

}  // namespace mg::engine
