#include "local_engine/tokenizer/sentencepiece_tokenizer.h"

#include <algorithm>
#include <queue>
#include <stdexcept>
#include <utility>

#include "local_engine/tokenizer/stream_decoder.h"
#include "local_engine/tokenizer/utf8.h"

namespace mg::engine {
namespace {

constexpr std::string_view space_symbol = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space
// Normalizing at most triples a text (a space or a malformed byte becomes three bytes), so below this
// every offset and symbol index fits the 32-bit fields of the merger.
constexpr std::size_t max_text_bytes = std::size_t{512} << 20;

std::size_t to_index(std::int32_t id) { return static_cast<std::size_t>(id); }

void append_escaping_spaces(std::string& out, std::string_view text) {
  for (const char c : text) {
    if (c == ' ') {
      out += space_symbol;
    } else {
      out += c;
    }
  }
}

}  // namespace

// The BPE of one normalized text: symbols in a doubly linked list over the text (merging two only grows
// the left one and empties the right one, so no text is copied), and a max-heap of candidate merges of
// neighbours. A candidate goes stale when either side has changed since it was pushed; it is then dropped
// when it surfaces, which keeps every merge O(log n).
class SentencePieceTokenizer::Merger {
 public:
  Merger(const SentencePieceTokenizer& tokenizer, std::string_view normalized)
      : tokenizer_(tokenizer), text_(normalized) {
    split_into_symbols();
    // Merging word by word gives the same pieces as merging the whole text at once when no piece spans
    // a word start (see words_merge_apart_), and keeps the heap small enough to stay in cache.
    std::size_t word_begin = 0;
    for (std::size_t i = 1; i <= symbols_.size(); ++i) {
      if (i < symbols_.size() && !(tokenizer_.words_merge_apart_ && starts_word(i))) continue;
      for (std::size_t j = word_begin + 1; j < i; ++j) {
        push_candidate(static_cast<std::int32_t>(j - 1), static_cast<std::int32_t>(j));
      }
      merge_until_done();
      word_begin = i;
    }
  }

  // Calls visit(piece, id) for every final piece, left to right.
  template <class Visit>
  void for_each_piece(Visit&& visit) const {
    for (std::int32_t i = symbols_.empty() ? -1 : 0; i != -1; i = symbols_[to_index(i)].next) {
      emit(text_of(symbols_[to_index(i)]), visit);
    }
  }

 private:
  struct Symbol {
    std::int32_t prev;    // index of the left neighbour, -1 at the start
    std::int32_t next;    // index of the right neighbour, -1 at the end
    std::uint32_t begin;  // byte offset in the normalized text
    std::uint32_t length; // bytes; 0 once merged into its left neighbour
    bool frozen;          // a user-defined piece: never merged
  };
  struct Candidate {
    float score;          // score of the merged piece
    std::int32_t left;    // symbol indices
    std::int32_t right;
    std::uint32_t length; // bytes of the merged piece when pushed: detects stale candidates
  };
  // Highest score first; on equal scores the leftmost pair, as SentencePiece's agenda orders them.
  struct ComesLater {
    bool operator()(const Candidate& a, const Candidate& b) const {
      return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
  };

  std::string_view text_of(const Symbol& symbol) const { return text_.substr(symbol.begin, symbol.length); }

  // A "▁" after anything but "▁": where a new word starts.
  bool starts_word(std::size_t index) const {
    const std::size_t begin = symbols_[index].begin;
    return text_.substr(begin).starts_with(space_symbol) && !text_.substr(0, begin).ends_with(space_symbol);
  }

  void split_into_symbols() {
    symbols_.reserve(text_.size());
    for (std::size_t offset = 0; offset < text_.size();) {
      const std::string_view rest = text_.substr(offset);
      const std::size_t user_defined = tokenizer_.user_defined_prefix_length(rest);
      const std::size_t length =
          user_defined != 0 ? user_defined
                            : std::min(rest.size(), utf8::length_from_lead(static_cast<unsigned char>(rest[0])));
      const auto index = static_cast<std::int32_t>(symbols_.size());
      symbols_.push_back(Symbol{index - 1, -1, static_cast<std::uint32_t>(offset),
                                static_cast<std::uint32_t>(length), user_defined != 0});
      if (index > 0) symbols_[to_index(index - 1)].next = index;
      offset += length;
    }
  }

  void push_candidate(std::int32_t left, std::int32_t right) {
    if (left == -1 || right == -1) return;
    const Symbol& a = symbols_[to_index(left)];
    const Symbol& b = symbols_[to_index(right)];
    if (a.frozen || b.frozen) return;
    const std::string_view merged = text_.substr(a.begin, a.length + b.length);
    const std::int32_t id = tokenizer_.mergeable_id(merged);
    if (id == -1) return;
    candidates_.push(Candidate{tokenizer_.vocabulary_.scores[to_index(id)], left, right,
                               static_cast<std::uint32_t>(merged.size())});
    // An unused piece is re-split in the output the way it was last formed (SentencePiece keeps the
    // split of the latest candidate for each such text, applied or not).
    if (tokenizer_.vocabulary_.types[to_index(id)] == TokenType::unused) {
      unused_splits_[merged] = {text_of(a), text_of(b)};
    }
  }

  void merge_until_done() {
    while (!candidates_.empty()) {
      const Candidate top = candidates_.top();
      candidates_.pop();
      Symbol& left = symbols_[to_index(top.left)];
      Symbol& right = symbols_[to_index(top.right)];
      if (left.length == 0 || right.length == 0 || left.length + right.length != top.length) continue;
      left.length += right.length;
      left.next = right.next;
      if (right.next != -1) symbols_[to_index(right.next)].prev = top.left;
      right.length = 0;
      push_candidate(left.prev, top.left);
      push_candidate(top.left, left.next);
    }
  }

  template <class Visit>
  void emit(std::string_view piece, Visit& visit) const {
    const std::int32_t id = tokenizer_.id_of_symbol(piece);
    if (tokenizer_.vocabulary_.types[to_index(id)] == TokenType::unused) {
      if (const auto split = unused_splits_.find(piece); split != unused_splits_.end()) {
        emit(split->second.first, visit);
        emit(split->second.second, visit);
        return;
      }
    }
    visit(piece, id);
  }

  const SentencePieceTokenizer& tokenizer_;
  std::string_view text_;        // the normalized text all symbols point into
  std::vector<Symbol> symbols_;  // [n_chars] in text order; merged ones stay, emptied
  std::priority_queue<Candidate, std::vector<Candidate>, ComesLater> candidates_;
  std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> unused_splits_;
};

SentencePieceTokenizer::SentencePieceTokenizer(Vocabulary vocabulary) : vocabulary_(std::move(vocabulary)) {
  validate_vocabulary(vocabulary_);
  for (std::int32_t id = 0; id < vocab_size(); ++id) {
    const std::string& text = vocabulary_.tokens[to_index(id)];
    switch (vocabulary_.types[to_index(id)]) {
      case TokenType::control:
      case TokenType::unknown:
        reserved_.emplace(text, id);
        break;
      case TokenType::byte:
        reserved_.emplace(text, id);
        byte_piece_ids_[*byte_value(id)] = id;
        byte_fallback_ = true;
        break;
      case TokenType::user_defined:
        mergeable_.emplace(text, id);
        user_defined_by_first_byte_[static_cast<unsigned char>(text[0])].push_back(id);
        break;
      case TokenType::unused:
      case TokenType::normal:
        mergeable_.emplace(text, id);
        break;
    }
  }
  words_merge_apart_ = !std::any_of(mergeable_.begin(), mergeable_.end(), [this](const auto& entry) {
    std::string_view after_spaces = entry.first;
    while (after_spaces.starts_with(space_symbol)) after_spaces.remove_prefix(space_symbol.size());
    const bool spans_word_start = after_spaces.find(space_symbol) != std::string_view::npos;
    return spans_word_start || vocabulary_.types[to_index(entry.second)] == TokenType::unused;
  });
  for (auto& candidates : user_defined_by_first_byte_) {
    std::stable_sort(candidates.begin(), candidates.end(), [this](std::int32_t a, std::int32_t b) {
      return vocabulary_.tokens[to_index(a)].size() > vocabulary_.tokens[to_index(b)].size();
    });
  }
}

std::vector<std::int32_t> SentencePieceTokenizer::encode(std::string_view text, bool add_bos) const {
  if (text.size() >= max_text_bytes) {
    throw std::length_error("tokenizer: text of " + std::to_string(text.size()) + " bytes; expected fewer than " +
                            std::to_string(max_text_bytes));
  }
  std::vector<std::int32_t> ids;
  if (add_bos) ids.push_back(bos_id());
  if (text.empty()) return ids;  // SentencePiece adds no dummy prefix to nothing
  const std::string normalized = normalize(text);
  ids.reserve(ids.size() + normalized.size() / 3);
  bool previous_unknown = false;
  Merger(*this, normalized).for_each_piece([&](std::string_view piece, std::int32_t id) {
    append_symbol_ids(piece, id, ids, previous_unknown);
  });
  return ids;
}

std::string SentencePieceTokenizer::decode(std::span<const std::int32_t> ids) const {
  // The stream decoder is the one implementation, so streamed text always equals decoded text.
  StreamDecoder decoder(*this);
  std::string text;
  for (const std::int32_t id : ids) decoder.feed(id, text);
  decoder.finish(text);
  return text;
}

std::int32_t SentencePieceTokenizer::find(std::string_view piece) const {
  if (const auto it = reserved_.find(piece); it != reserved_.end()) return it->second;
  return mergeable_id(piece);
}

std::string_view SentencePieceTokenizer::piece(std::int32_t id) const {
  check_id(id);
  return vocabulary_.tokens[to_index(id)];
}

TokenType SentencePieceTokenizer::type(std::int32_t id) const {
  check_id(id);
  return vocabulary_.types[to_index(id)];
}

std::optional<std::uint8_t> SentencePieceTokenizer::byte_value(std::int32_t id) const {
  if (type(id) != TokenType::byte) return std::nullopt;
  // Validated as "<0xNN>" with upper-case hex digits.
  const auto digit = [](char c) { return c <= '9' ? c - '0' : c - 'A' + 10; };
  const std::string& text = vocabulary_.tokens[to_index(id)];
  return static_cast<std::uint8_t>(digit(text[3]) * 16 + digit(text[4]));
}

void SentencePieceTokenizer::check_id(std::int32_t id) const {
  if (id < 0 || id >= vocab_size()) {
    throw std::out_of_range("tokenizer: token id " + std::to_string(id) + " is outside the vocabulary; expected 0.." +
                            std::to_string(vocab_size() - 1));
  }
}

std::string SentencePieceTokenizer::normalize(std::string_view text) const {
  std::string normalized;
  normalized.reserve(text.size() + text.size() / 2 + space_symbol.size());
  if (vocabulary_.add_space_prefix) normalized += space_symbol;
  while (!text.empty()) {
    // User-defined pieces pass unchecked; everything else one character at a time, malformed bytes
    // replaced one by one.
    std::size_t consumed = user_defined_prefix_length(text);
    std::string_view chunk = text.substr(0, consumed);
    if (consumed == 0) {
      const utf8::CharRead read = utf8::read_char(text);
      consumed = read.length;
      chunk = read.valid ? text.substr(0, consumed) : utf8::replacement_character;
    }
    append_escaping_spaces(normalized, chunk);
    text.remove_prefix(consumed);
  }
  return normalized;
}

std::size_t SentencePieceTokenizer::user_defined_prefix_length(std::string_view text) const {
  for (const std::int32_t id : user_defined_by_first_byte_[static_cast<unsigned char>(text[0])]) {
    const std::string& candidate = vocabulary_.tokens[to_index(id)];
    if (text.starts_with(candidate)) return candidate.size();
  }
  return 0;
}

std::int32_t SentencePieceTokenizer::mergeable_id(std::string_view piece) const {
  const auto it = mergeable_.find(piece);
  return it == mergeable_.end() ? -1 : it->second;
}

std::int32_t SentencePieceTokenizer::id_of_symbol(std::string_view piece) const {
  const std::int32_t id = find(piece);
  return id == -1 ? unk_id() : id;
}

void SentencePieceTokenizer::append_symbol_ids(std::string_view symbol, std::int32_t id, std::vector<std::int32_t>& ids,
                                               bool& previous_unknown) const {
  const bool unknown = vocabulary_.types[to_index(id)] == TokenType::unknown;
  if (unknown && byte_fallback_) {
    for (const char c : symbol) ids.push_back(byte_piece_ids_[static_cast<unsigned char>(c)]);
  } else if (!(unknown && previous_unknown)) {  // without byte fallback a run of unknowns is one <unk>
    ids.push_back(id);
  }
  previous_unknown = unknown;
}

}  // namespace mg::engine
