// Finished sequences kept with their keys and values, so that a new request whose prompt begins the same
// way (the same system prompt, the next turn of a chat) starts from them instead of computing that prefix
// again. Entries hold their KV blocks until evicted, least recently used first, when the pool needs room
// or the cache is at its entry limit; a sequence that shares an entry's blocks keeps them alive.
#pragma once

#include <cstdint>
#include <list>
#include <span>
#include <vector>

#include "local_engine/model/kv_cache.h"

namespace mg::engine {

class PrefixCache {
 public:
  explicit PrefixCache(std::size_t max_entries) : max_entries_(max_entries) {}

  // Starts the empty `sequence` as the longest prefix of `prompt` that an entry holds, leaving at least
  // `keep_last` tokens of the prompt to be fed (the step that feeds them gives the logits). Returns how
  // many positions it starts with (0: none matched, or no block was free for the copy).
  std::uint32_t start_from_longest_prefix(std::span<const std::int32_t> prompt, KvSequence& sequence, std::uint32_t keep_last = 1);

  // Keeps `sequence`, whose positions hold `tokens`, for later requests.
  void insert(std::vector<std::int32_t> tokens, KvSequence sequence);

  // Frees the least recently used entry's blocks; false when there is none.
  bool evict_oldest();
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::vector<std::int32_t> tokens;  // [sequence.n_past()]
    KvSequence sequence;
  };

  std::size_t max_entries_;
  std::list<Entry> entries_;  // most recently used first
};

}  // namespace mg::engine
