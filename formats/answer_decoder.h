// An upstream's answer, streamed SSE data or one JSON body, into the canonical ChatEvents: one decoder
// per wire API an upstream may speak (OpenAI's chat completions, Anthropic's Messages). Exactly one
// terminal event ends what a decoder puts out.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/chat_event.h"
#include "core/chat_request.h"

namespace mg {

// The API an upstream speaks (its provider's dialect says which).
enum class WireApi { openai_chat, anthropic_messages };

// A provider's finish reason in the gateway's words ("end_turn" is stop, "max_tokens" is length, ...).
FinishReason normalise_finish_reason(std::string_view native);

// An error the upstream reported in its answer (in-band, or a 200 body holding one): worth another try.
Error upstream_error(const std::string& message);

class AnswerDecoder {
 public:
  virtual ~AnswerDecoder() = default;
  // One `data:` payload of a stream.
  virtual void on_stream_data(std::string_view data, std::vector<ChatEvent>& out) = 0;
  // The byte stream ended; without the API's own end that is a failure, never a clean end.
  virtual void on_stream_end(std::vector<ChatEvent>& out) = 0;
  // A whole non-streamed body.
  virtual void on_body(std::string_view body, std::vector<ChatEvent>& out) = 0;
};

// The decoder of `request`'s answer from an upstream that speaks `wire`. The request's estimated prompt
// is billed when the upstream reports no usage.
std::unique_ptr<AnswerDecoder> make_answer_decoder(WireApi wire, const ChatRequest& request);

}  // namespace mg
