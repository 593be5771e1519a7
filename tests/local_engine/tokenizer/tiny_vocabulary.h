// Hand-made vocabularies small enough to reason about, for the rule-by-rule tests (the oracle tests use
// the real Mistral vocabularies).
#pragma once

#include <cstdio>
#include <initializer_list>
#include <string>

#include "local_engine/tokenizer/vocabulary.h"

namespace mg::engine::testing {

struct TinyPiece {
  std::string text;
  float score = 0.0f;
  TokenType type = TokenType::normal;
};

inline std::string byte_piece(int byte) {
  char text[8];
  std::snprintf(text, sizeof text, "<0x%02X>", byte);
  return text;
}

// <unk> 0, <s> 1, </s> 2, then the 256 byte pieces when `byte_fallback`, then `pieces` in order.
inline Vocabulary tiny_vocabulary(std::initializer_list<TinyPiece> pieces, bool byte_fallback = true) {
  Vocabulary vocabulary;
  const auto add = [&](std::string text, float score, TokenType type) {
    vocabulary.tokens.push_back(std::move(text));
    vocabulary.scores.push_back(score);
    vocabulary.types.push_back(type);
  };
  add("<unk>", 0, TokenType::unknown);
  add("<s>", 0, TokenType::control);
  add("</s>", 0, TokenType::control);
  for (int byte = 0; byte < 256 && byte_fallback; ++byte) add(byte_piece(byte), 0, TokenType::byte);
  for (const TinyPiece& piece : pieces) add(piece.text, piece.score, piece.type);
  return vocabulary;
}

// The id of a piece in tiny_vocabulary(pieces, true): its index in `pieces` after the 259 fixed ones.
constexpr std::int32_t tiny_id(std::int32_t index) { return 3 + 256 + index; }

}  // namespace mg::engine::testing
