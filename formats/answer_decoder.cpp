#include "formats/answer_decoder.h"

#include "formats/anthropic_upstream.h"
#include "formats/openai_embeddings.h"
#include "formats/openai_response_decoder.h"

namespace mg {

FinishReason normalise_finish_reason(std::string_view native) {
  if (native == "length" || native == "max_tokens" || native == "model_length" || native == "model_context_window_exceeded") {
    return FinishReason::length;
  }
  if (native == "tool_calls" || native == "function_call" || native == "tool_use") return FinishReason::tool_calls;
  if (native == "content_filter" || native == "safety" || native == "refusal") return FinishReason::content_filter;
  if (native == "error") return FinishReason::error;
  return FinishReason::stop;  // "stop", "eos", "end_turn", "stop_sequence" and anything new
}

Error upstream_error(const std::string& message) {
  return Error::upstream("upstream error: " + (message.empty() ? std::string("(no message)") : message), FailureClass::transient);
}

std::unique_ptr<AnswerDecoder> make_answer_decoder(WireApi wire, const ChatRequest& request) {
  const std::int64_t estimated_prompt_tokens = request.estimated_prompt_tokens();
  if (wire == WireApi::anthropic_messages) return std::make_unique<AnthropicAnswerDecoder>(estimated_prompt_tokens);
  if (request.flavor == ApiFlavor::embedding) {
    return std::make_unique<EmbeddingAnswerDecoder>(request.embedding_input.count(), estimated_prompt_tokens);
  }
  return std::make_unique<OpenAiResponseDecoder>(request.flavor, estimated_prompt_tokens);
}

}  // namespace mg
