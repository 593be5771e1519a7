// OpenAI's Responses API (POST /v1/responses), stateless: a client's body -> the gateway's one request
// type. `input` (a string or items: messages, function_call, function_call_output) becomes the
// conversation after `instructions`; its answers are written by gateway/responses_answer.cpp.
#pragma once

#include <string_view>

#include "core/chat_request.h"
#include "core/result.h"
#include "formats/openai_wire.h"

namespace mg {

// Parses a Responses API body. What needs stored state (previous_response_id, store: true, item
// references, conversations, background runs) and the hosted tools are refused by name.
Result<ChatRequest> parse_openai_responses(std::string_view body, const JsonLimits& limits = {}, std::size_t* parsed_bytes = nullptr);

}  // namespace mg
