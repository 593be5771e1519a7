// Token ids -> text one id at a time, for streaming generation: each feed() returns only complete UTF-8,
// so no client ever sees half a character. The concatenation of every feed() and the final finish() is
// exactly SentencePieceTokenizer::decode of all the ids (which is implemented with this class):
//  - a character spelled by several byte-fallback pieces (<0xE4><0xBD><0xA0>) is held until its last
//    byte arrives; bytes that cannot form a character become U+FFFD, one per byte, as in SentencePiece;
//  - the space of the dummy prefix ("▁Hello" -> "Hello") is dropped from the first piece that has text;
//  - control pieces (<s>, </s>, [INST]) decode to nothing, the unknown piece to " ⁇ ".
#pragma once

#include <cstdint>
#include <string>

#include "local_engine/tokenizer/sentencepiece_tokenizer.h"

namespace mg::engine {

class StreamDecoder {
 public:
  // `tokenizer` must outlive the decoder.
  explicit StreamDecoder(const SentencePieceTokenizer& tokenizer) : tokenizer_(&tokenizer) {}

  // Appends to `text` what `id` completes (possibly nothing). Throws std::out_of_range for an id outside
  // the vocabulary.
  void feed(std::int32_t id, std::string& text);
  std::string feed(std::int32_t id);

  // End of the stream: appends bytes still held (a character that never completed) as U+FFFD each, and
  // makes the decoder ready for a new stream.
  void finish(std::string& text);
  std::string finish();

 private:
  void feed_piece(std::int32_t id, std::string& text);
  // Emits the held byte-fallback bytes that can be judged; all of them when `run_ended`.
  void emit_held_bytes(std::string& text, bool run_ended);

  const SentencePieceTokenizer* tokenizer_;
  std::string held_bytes_;             // the undecided tail of the current run of byte pieces (< 4 bytes)
  bool produced_text_ = false;         // any text emitted in this stream yet
  bool dummy_prefix_pending_ = true;   // the next piece with text may start with the dummy-prefix space
  bool dropped_dummy_prefix_ = false;  // the previous piece was the one that lost it
};

}  // namespace mg::engine
