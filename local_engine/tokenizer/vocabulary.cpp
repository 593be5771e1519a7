#include "local_engine/tokenizer/vocabulary.h"

#include <array>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

namespace mg::engine {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("vocabulary: " + what); }

std::string quoted(std::string_view piece) { return "'" + std::string(piece) + "'"; }

bool is_upper_hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); }

void check_sizes(const Vocabulary& vocabulary) {
  const std::size_t n_vocab = vocabulary.tokens.size();
  if (n_vocab == 0) fail("no tokens; expected at least the unknown piece");
  if (vocabulary.scores.size() != n_vocab) {
    fail(std::to_string(n_vocab) + " tokens but " + std::to_string(vocabulary.scores.size()) +
         " scores; expected one score per token");
  }
  if (vocabulary.types.size() != n_vocab) {
    fail(std::to_string(n_vocab) + " tokens but " + std::to_string(vocabulary.types.size()) +
         " token types; expected one type per token");
  }
}

void check_special_id(const Vocabulary& vocabulary, std::string_view name, std::int32_t id) {
  const auto n_vocab = static_cast<std::int64_t>(vocabulary.tokens.size());
  if (id < 0 || id >= n_vocab) {
    fail(std::string(name) + " " + std::to_string(id) + " is outside the vocabulary; expected 0.." +
         std::to_string(n_vocab - 1));
  }
}

void check_piece(const Vocabulary& vocabulary, std::size_t id) {
  const std::string& piece = vocabulary.tokens[id];
  const auto type = static_cast<std::int32_t>(vocabulary.types[id]);
  const std::string where = "token " + std::to_string(id);
  if (type < 1 || type > 6) fail(where + " has type " + std::to_string(type) + "; expected 1..6");
  if (piece.empty()) fail(where + " is empty; SentencePiece pieces never are");
  if (piece.find('\0') != std::string::npos) fail(where + " holds a NUL byte");
  if (std::isnan(vocabulary.scores[id])) fail(where + " " + quoted(piece) + " has a NaN score");
}

// "<0x0A>" -> 10; -1 for anything else, lower-case hex included (SentencePiece writes upper case only).
int byte_of_piece(std::string_view piece) {
  if (piece.size() != 6 || !piece.starts_with("<0x") || piece[5] != '>') return -1;
  if (!is_upper_hex_digit(piece[3]) || !is_upper_hex_digit(piece[4])) return -1;
  return std::stoi(std::string(piece.substr(3, 2)), nullptr, 16);
}

void check_byte_pieces(const Vocabulary& vocabulary) {
  std::array<bool, 256> seen{};
  std::size_t n_byte_pieces = 0;
  for (std::size_t id = 0; id < vocabulary.tokens.size(); ++id) {
    if (vocabulary.types[id] != TokenType::byte) continue;
    const int byte = byte_of_piece(vocabulary.tokens[id]);
    if (byte < 0) {
      fail("token " + std::to_string(id) + " " + quoted(vocabulary.tokens[id]) +
           " is a byte token; expected the form <0xNN> with upper-case hex");
    }
    seen[static_cast<std::size_t>(byte)] = true;
    ++n_byte_pieces;
  }
  // Byte fallback needs every byte; duplicates would already have failed check_unique_pieces.
  if (n_byte_pieces != 0 && n_byte_pieces != seen.size()) {
    fail(std::to_string(n_byte_pieces) + " byte tokens; expected none or all 256");
  }
}

// SentencePiece keeps two maps: pieces BPE may produce (normal, user-defined, unused) and reserved ones
// (control, unknown, byte). A string may appear once in each.
bool is_reserved(TokenType type) {
  return type == TokenType::control || type == TokenType::unknown || type == TokenType::byte;
}

void check_unique_pieces(const Vocabulary& vocabulary) {
  std::unordered_map<std::string_view, std::size_t> reserved, mergeable;
  for (std::size_t id = 0; id < vocabulary.tokens.size(); ++id) {
    auto& seen = is_reserved(vocabulary.types[id]) ? reserved : mergeable;
    const auto [it, inserted] = seen.emplace(vocabulary.tokens[id], id);
    if (!inserted) {
      fail("token " + std::to_string(id) + " " + quoted(vocabulary.tokens[id]) + " repeats token " +
           std::to_string(it->second));
    }
  }
}

void check_unknown_piece(const Vocabulary& vocabulary) {
  const auto unk = static_cast<std::size_t>(vocabulary.unk_id);
  if (vocabulary.types[unk] != TokenType::unknown) {
    fail("unk_id " + std::to_string(unk) + " " + quoted(vocabulary.tokens[unk]) + " has type " +
         std::to_string(static_cast<std::int32_t>(vocabulary.types[unk])) + "; expected unknown (2)");
  }
  for (std::size_t id = 0; id < vocabulary.types.size(); ++id) {
    if (vocabulary.types[id] == TokenType::unknown && id != unk) {
      fail("token " + std::to_string(id) + " is a second unknown piece; expected only unk_id " +
           std::to_string(unk));
    }
  }
}

}  // namespace

void validate_vocabulary(const Vocabulary& vocabulary) {
  check_sizes(vocabulary);
  check_special_id(vocabulary, "bos_id", vocabulary.bos_id);
  check_special_id(vocabulary, "eos_id", vocabulary.eos_id);
  check_special_id(vocabulary, "unk_id", vocabulary.unk_id);
  for (std::size_t id = 0; id < vocabulary.tokens.size(); ++id) check_piece(vocabulary, id);
  check_unique_pieces(vocabulary);
  check_unknown_piece(vocabulary);
  check_byte_pieces(vocabulary);
}

}  // namespace mg::engine
