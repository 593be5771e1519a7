// Translates an OpenAI-compatible upstream's answer, streamed SSE chunks or one JSON body, into the
// canonical ChatEvents: finish reasons normalised (the raw one kept), tool-call fragments with their
// index, usage taken from the upstream or counted when it sends none, errors in-band or as the body.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "core/chat_event.h"
#include "core/chat_request.h"
#include "formats/answer_decoder.h"
#include "formats/openai_answer_reader.h"

namespace mg {

class OpenAiResponseDecoder final : public AnswerDecoder {
 public:
  OpenAiResponseDecoder(ApiFlavor flavor, std::int64_t estimated_prompt_tokens)
      : flavor_(flavor), estimated_prompt_tokens_(estimated_prompt_tokens) {}

  // "[DONE]" completes a stream; a stream that ends without it failed.
  void on_stream_data(std::string_view data, std::vector<ChatEvent>& out) override;
  void on_stream_end(std::vector<ChatEvent>& out) override;
  void on_body(std::string_view body, std::vector<ChatEvent>& out) override;

  bool finished() const { return finished_; }

 private:
  // The error when the choice is malformed (an index out of range); its events so far stay in `out`.
  std::optional<Error> decode_choice(ChoiceFragment& choice, std::vector<ChatEvent>& out);
  // False, with the failure in `out`, when a choice is malformed.
  bool decode_choices(AnswerChunk& chunk, std::vector<ChatEvent>& out);
  std::string_view body_key(bool streamed) const;
  void finish(std::vector<ChatEvent>& out);
  void fail(Error error, std::vector<ChatEvent>& out);

  ApiFlavor flavor_;
  std::int64_t estimated_prompt_tokens_;
  std::optional<UsageReport> usage_;
  std::int64_t content_events_ = 0;  // the token count when the upstream reports no usage
  std::set<std::pair<int, int>> tool_calls_seen_;  // (choice, index): id and name only on the first fragment
  bool finished_ = false;
};

}  // namespace mg
