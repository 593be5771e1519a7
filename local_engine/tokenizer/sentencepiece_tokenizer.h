// SentencePiece BPE, as Mistral 7B, Mixtral 8x7B and Mistral v0.3 use it: text -> token ids for every
// prompt, token ids -> text for every answer. It reproduces SentencePiece 0.1.97's EncodeAsIds and
// DecodeIds for models with the "identity" normalizer (no character map, no removal of extra spaces),
// which is what these models ship; the tests hold it to the real library on both Mistral vocabularies.
//
// Encoding, in SentencePiece's order:
//  1. normalize: a "▁" in front (add_space_prefix), every space to "▁", each malformed UTF-8 byte to
//     U+FFFD; user-defined pieces are copied through untouched;
//  2. split into characters, a user-defined piece being one frozen symbol;
//  3. merge neighbours, always the pair whose merged piece has the highest score (the leftmost on ties),
//     until no neighbouring pair forms a piece; control, unknown and byte pieces are never merge results;
//  4. emit ids; a symbol outside the vocabulary becomes its UTF-8 bytes as <0xNN> pieces.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "local_engine/tokenizer/vocabulary.h"

namespace mg::engine {

class SentencePieceTokenizer {
 public:
  // Validates the vocabulary (throws std::invalid_argument, see validate_vocabulary).
  explicit SentencePieceTokenizer(Vocabulary vocabulary);

  // SentencePiece's EncodeAsIds(text), with bos_id() in front when `add_bos`. Throws std::length_error
  // for texts of 512 MiB or more (ids are 32-bit; the gateway's body limits are far lower).
  std::vector<std::int32_t> encode(std::string_view text, bool add_bos) const;
  // SentencePiece's DecodeIds(ids). Throws std::out_of_range for an id outside the vocabulary.
  std::string decode(std::span<const std::int32_t> ids) const;

  std::int32_t vocab_size() const { return static_cast<std::int32_t>(vocabulary_.tokens.size()); }
  std::int32_t bos_id() const { return vocabulary_.bos_id; }
  std::int32_t eos_id() const { return vocabulary_.eos_id; }
  std::int32_t unk_id() const { return vocabulary_.unk_id; }
  bool add_bos_by_default() const { return vocabulary_.add_bos; }
  bool add_space_prefix() const { return vocabulary_.add_space_prefix; }

  // The id of a piece (as stored, "▁" for spaces); -1 when absent. Like SentencePiece's PieceToId a
  // control, unknown or byte piece wins over a normal piece of the same text.
  std::int32_t find(std::string_view piece) const;
  // These throw std::out_of_range for an id outside the vocabulary.
  std::string_view piece(std::int32_t id) const;
  TokenType type(std::int32_t id) const;
  bool is_control(std::int32_t id) const { return type(id) == TokenType::control; }
  // The byte of a <0xNN> piece; nullopt for other pieces.
  std::optional<std::uint8_t> byte_value(std::int32_t id) const;

 private:
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };
  using PieceMap = std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>>;

  class Merger;  // one encode()'s BPE state, in the .cpp

  void check_id(std::int32_t id) const;
  std::string normalize(std::string_view text) const;
  // Bytes of the longest user-defined piece `text` starts with; 0 when none.
  std::size_t user_defined_prefix_length(std::string_view text) const;
  // The id BPE may merge into for this text; -1 when none.
  std::int32_t mergeable_id(std::string_view piece) const;
  // The id SentencePiece gives a finished symbol: unk_id() when it is no piece at all.
  std::int32_t id_of_symbol(std::string_view piece) const;
  void append_symbol_ids(std::string_view symbol, std::int32_t id, std::vector<std::int32_t>& ids,
                         bool& previous_unknown) const;

  Vocabulary vocabulary_;
  PieceMap mergeable_;  // normal, user-defined and unused pieces: what BPE may produce
  PieceMap reserved_;   // control, unknown and byte pieces: found by find(), never merged into
  std::array<std::int32_t, 256> byte_piece_ids_{};  // <0xNN> id per byte, when byte_fallback_
  bool byte_fallback_ = false;                      // the vocabulary has the 256 byte pieces
  // No piece holds a "▁" after another character (true of Mistral's: "▁▁▁the", never "the▁"), so no
  // merge crosses a word start and words can be merged one at a time. Off with unused pieces, whose
  // re-split depends on the order of all candidates.
  bool words_merge_apart_ = false;
  // User-defined pieces by first byte, longest first: the candidates of a prefix match.
  std::array<std::vector<std::int32_t>, 256> user_defined_by_first_byte_;
};

}  // namespace mg::engine
