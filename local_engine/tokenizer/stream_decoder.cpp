#include "local_engine/tokenizer/stream_decoder.h"

#include <string_view>

#include "local_engine/tokenizer/utf8.h"

namespace mg::engine {
namespace {

constexpr std::string_view space_symbol = "\xE2\x96\x81";             // U+2581
constexpr std::string_view unknown_surface = " \xE2\x81\x87 ";        // " ⁇ ", SentencePiece's default

void append_unescaping_spaces(std::string& text, std::string_view piece) {
  for (std::size_t found = piece.find(space_symbol); found != std::string_view::npos;
       found = piece.find(space_symbol)) {
    text.append(piece.substr(0, found));
    text += ' ';
    piece.remove_prefix(found + space_symbol.size());
  }
  text.append(piece);
}

}  // namespace

void StreamDecoder::feed(std::int32_t id, std::string& text) {
  if (const auto byte = tokenizer_->byte_value(id)) {
    held_bytes_ += static_cast<char>(*byte);
    emit_held_bytes(text, /*run_ended=*/false);
    return;
  }
  emit_held_bytes(text, /*run_ended=*/true);
  feed_piece(id, text);
}

std::string StreamDecoder::feed(std::int32_t id) {
  std::string text;
  feed(id, text);
  return text;
}

void StreamDecoder::finish(std::string& text) {
  emit_held_bytes(text, /*run_ended=*/true);
  *this = StreamDecoder(*tokenizer_);
}

std::string StreamDecoder::finish() {
  std::string text;
  finish(text);
  return text;
}

void StreamDecoder::feed_piece(std::int32_t id, std::string& text) {
  // SentencePiece drops the dummy prefix only from the first piece that could carry it: once text has
  // appeared, or once a piece has lost its "▁", later pieces keep theirs. Control pieces do not count.
  if (produced_text_ || dropped_dummy_prefix_) dummy_prefix_pending_ = false;
  dropped_dummy_prefix_ = false;
  const TokenType type = tokenizer_->type(id);
  if (type == TokenType::control) return;
  if (type == TokenType::unknown) {
    text += unknown_surface;
    produced_text_ = true;
    return;
  }
  std::string_view piece = tokenizer_->piece(id);
  if (dummy_prefix_pending_ && tokenizer_->add_space_prefix() && piece.starts_with(space_symbol)) {
    piece.remove_prefix(space_symbol.size());
    dropped_dummy_prefix_ = true;
  }
  append_unescaping_spaces(text, piece);
  produced_text_ = produced_text_ || !piece.empty();
}

void StreamDecoder::emit_held_bytes(std::string& text, bool run_ended) {
  std::string_view rest = held_bytes_;
  while (!rest.empty()) {
    // A character still short of bytes may yet complete, unless the run of byte pieces is over.
    if (!run_ended && rest.size() < utf8::bytes_needed(static_cast<unsigned char>(rest[0]))) break;
    const utf8::CharRead read = utf8::read_char(rest);
    text.append(read.valid ? rest.substr(0, read.length) : utf8::replacement_character);
    produced_text_ = true;
    rest.remove_prefix(read.length);
  }
  held_bytes_.erase(0, held_bytes_.size() - rest.size());
}

}  // namespace mg::engine
