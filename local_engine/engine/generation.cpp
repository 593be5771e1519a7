#include "local_engine/engine/generation.h"

namespace mg::engine {

Generation::Generation(const SentencePieceTokenizer& tokenizer, const GenerationRequest& request, TokenConstraint* constraint)
    : tokenizer_(tokenizer), max_tokens_(request.max_tokens), constraint_(constraint), sampler_(request.sampling), decoder_(tokenizer),
      stops_(request.stop) {
  if (max_tokens_ == 0) end("length");
}

std::optional<std::int32_t> Generation::step(std::span<float> logits, const PieceCallback& on_piece, bool context_full) {
  if (finished()) return std::nullopt;
  if (constraint_ && !constraint_->mask(logits)) {
    end("stop");
    flush_held_text(on_piece);
    return std::nullopt;
  }
  SampledToken sampled = sampler_.sample(logits, generated_);
  ++completion_tokens_;
  if (sampled.token == tokenizer_.eos_id()) {
    end("stop");
    flush_held_text(on_piece);
    return std::nullopt;
  }
  if (constraint_) constraint_->accept(sampled.token);
  generated_.push_back(sampled.token);
  auto text = stops_.feed(decoder_.feed(sampled.token));
  if (!on_piece(GeneratedPiece{text.text, &sampled})) {
    cancel();
    return std::nullopt;
  }
  if (text.stopped) {
    stop_sequence_ = std::move(text.stop);
    end("stop");  // the stop string and whatever was held back with it are never sent
    return std::nullopt;
  }
  if (completion_tokens_ >= max_tokens_ || context_full) {
    end("length");
    flush_held_text(on_piece);
    return std::nullopt;
  }
  return sampled.token;
}

// Text held back (a partial character or a possible stop) is output after all.
void Generation::flush_held_text(const PieceCallback& on_piece) {
  auto last = stops_.feed(decoder_.finish());
  std::string rest = last.text + (last.stopped ? std::string() : stops_.flush());
  if (!rest.empty()) on_piece(GeneratedPiece{rest, nullptr});
}

}  // namespace mg::engine
