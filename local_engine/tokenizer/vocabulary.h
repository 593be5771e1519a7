// The vocabulary of a SentencePiece model as a GGUF file carries it (tokenizer.ggml.tokens, .scores,
// .token_type, the special ids and flags): the input of SentencePieceTokenizer. Whoever maps GGUF metadata
// fills this struct; validate_vocabulary() checks it once, before any text is tokenized with it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mg::engine {

// SentencePiece's piece types (sentencepiece_model.proto), which GGUF's token_type copies.
enum class TokenType : std::int32_t {
  normal = 1,        // learned piece: BPE may merge into it
  unknown = 2,       // <unk>: what text outside the vocabulary becomes without byte fallback
  control = 3,       // <s>, </s>, [INST]...: never produced from text, decoded as nothing
  user_defined = 4,  // matched whole in the text before BPE, never split or merged further
  unused = 5,        // BPE may pass through it but re-splits it in the output
  byte = 6,          // <0x00>..<0xFF>: byte fallback for characters the vocabulary lacks
};

struct Vocabulary {
  std::vector<std::string> tokens;  // [n_vocab] piece text, "▁" (U+2581) standing for a space
  std::vector<float> scores;        // [n_vocab] BPE merge priority: the higher, the earlier
  std::vector<TokenType> types;     // [n_vocab]
  std::int32_t bos_id = 1;
  std::int32_t eos_id = 2;
  std::int32_t unk_id = 0;
  bool add_bos = true;           // prompts start with BOS unless the caller says otherwise
  bool add_space_prefix = true;  // SentencePiece's add_dummy_prefix: "Hi" is encoded as " Hi"
};

// Throws std::invalid_argument naming the first inconsistency: sizes that differ, an empty vocabulary, an
// id out of range, a type outside 1..6, an empty piece or one holding NUL, a piece defined twice, a NaN
// score, an unk_id that is not the unknown piece, a byte piece that is not "<0xNN>", or some but not all
// 256 byte pieces (SentencePiece's own load-time rules, so that what loads here also loads there).
void validate_vocabulary(const Vocabulary& vocabulary);

}  // namespace mg::engine
