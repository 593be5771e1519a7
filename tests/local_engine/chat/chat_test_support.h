// The two Mistral tokenizers for the chat tests, built once from the vocabularies the SentencePiece oracle
// dumps (tests/local_engine/tokenizer/sentencepiece_oracle_client.h).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "local_engine/tokenizer/sentencepiece_tokenizer.h"
#include "tests/local_engine/tokenizer/sentencepiece_oracle_client.h"

namespace mg::engine::testing {

inline constexpr std::string_view v1_model_file = "tokenizer.model.v1";                          // 32000 pieces
inline constexpr std::string_view v3_model_file = "mistral_instruct_tokenizer_240323.model.v3";  // 32768 pieces

// Throws std::runtime_error when the oracle cannot run (see oracle_run).
inline const SentencePieceTokenizer& chat_tokenizer(std::string_view model_file) {
  static std::map<std::string, std::unique_ptr<SentencePieceTokenizer>, std::less<>> tokenizers;
  auto found = tokenizers.find(model_file);
  if (found == tokenizers.end()) {
    auto tokenizer = std::make_unique<SentencePieceTokenizer>(oracle_run(model_file).vocabulary);
    found = tokenizers.emplace(std::string(model_file), std::move(tokenizer)).first;
  }
  return *found->second;
}

}  // namespace mg::engine::testing
