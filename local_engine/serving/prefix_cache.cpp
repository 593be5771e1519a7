#include "local_engine/serving/prefix_cache.h"

#include <algorithm>

namespace mg::engine {

std::uint32_t PrefixCache::start_from_longest_prefix(std::span<const std::int32_t> prompt, KvSequence& sequence, std::uint32_t keep_last) {
  if (prompt.size() <= keep_last) return 0;
  const std::size_t limit = prompt.size() - keep_last;
  auto best = entries_.end();
  std::size_t best_length = 0;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    const std::size_t n = std::min(limit, it->tokens.size());
    const std::size_t common = static_cast<std::size_t>(std::mismatch(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(n), it->tokens.begin()).first -
                                                        prompt.begin());
    if (common > best_length) {
      best = it;
      best_length = common;
    }
  }
  if (best == entries_.end() || !sequence.share_prefix(best->sequence, static_cast<std::uint32_t>(best_length))) return 0;
  entries_.splice(entries_.begin(), entries_, best);
  return static_cast<std::uint32_t>(best_length);
}

void PrefixCache::insert(std::vector<std::int32_t> tokens, KvSequence sequence) {
  if (max_entries_ == 0 || tokens.empty()) return;
  tokens.resize(sequence.n_past());  // the last sampled token was never fed: its position holds nothing
  // An entry that is a prefix of the new one says nothing the new one does not.
  entries_.remove_if([&](const Entry& entry) {
    return entry.tokens.size() <= tokens.size() && std::equal(entry.tokens.begin(), entry.tokens.end(), tokens.begin());
  });
  entries_.push_front(Entry{std::move(tokens), std::move(sequence)});
  while (entries_.size() > max_entries_) entries_.pop_back();
}

bool PrefixCache::evict_oldest() {
  if (entries_.empty()) return false;
  entries_.pop_back();
  return true;
}

}  // namespace mg::engine
