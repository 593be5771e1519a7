// One request's answer, token by token, whatever evaluates the model: the sampler, the streaming text
// decoder and the stop strings, fed the logits of each step and returning the token to feed next. The
// generation loop over one session (Engine::generate) and the continuous-batching scheduler
// (serving/) both drive it, so a token means the same thing on either.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "local_engine/sampling/sampler.h"
#include "local_engine/sampling/token_constraint.h"
#include "local_engine/sampling/stop_strings.h"
#include "local_engine/tokenizer/sentencepiece_tokenizer.h"
#include "local_engine/tokenizer/stream_decoder.h"

namespace mg::engine {

struct GenerationRequest {
  std::vector<std::int32_t> prompt;
  SamplingParams sampling;
  std::uint32_t max_tokens = 256;
  std::vector<std::string> stop;
};

struct GeneratedPiece {
  std::string_view text;        // may be empty: a token can end inside a character or a possible stop
  const SampledToken* token;    // null for the text held back until generation ended
};

// Gets every sampled token with the text it completes; returning false cancels.
using PieceCallback = std::function<bool(const GeneratedPiece&)>;

class Generation {
 public:
  // `tokenizer` (and `constraint`, when given) must outlive the generation.
  Generation(const SentencePieceTokenizer& tokenizer, const GenerationRequest& request, TokenConstraint* constraint = nullptr);

  // The logits after the last fed token (the prompt's last, then each returned token's): samples, streams
  // the text to `on_piece`, and returns the token to feed next, or nullopt when the answer has ended.
  // `context_full`: no position is left to feed a token at, so the answer ends after this one.
  std::optional<std::int32_t> step(std::span<float> logits, const PieceCallback& on_piece, bool context_full);
  // Ends the answer early (cancelled by the caller: deadline, disconnect, shutdown).
  void cancel() { end("cancelled"); }

  bool finished() const { return !finish_reason_.empty(); }
  // "stop" (EOS, a stop string, or a constraint complete), "length" (max_tokens or the context),
  // "cancelled".
  const std::string& finish_reason() const { return finish_reason_; }
  const std::string& stop_sequence() const { return stop_sequence_; }  // the stop string that ended it; '' for none
  std::uint32_t completion_tokens() const { return completion_tokens_; }
  const std::vector<std::int32_t>& generated() const { return generated_; }  // without the EOS

 private:
  void end(std::string reason) { finish_reason_ = std::move(reason); }
  void flush_held_text(const PieceCallback& on_piece);

  const SentencePieceTokenizer& tokenizer_;
  std::uint32_t max_tokens_;
  TokenConstraint* constraint_;
  Sampler sampler_;
  StreamDecoder decoder_;
  StopStringMatcher stops_;
  std::vector<std::int32_t> generated_;
  std::uint32_t completion_tokens_ = 0;
  std::string finish_reason_;
  std::string stop_sequence_;
};

}  // namespace mg::engine
