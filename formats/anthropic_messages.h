// Anthropic's Messages API (POST /v1/messages) <-> the gateway's one request type. The front door parses
// a client's body into a ChatRequest (system prompt first, tool_use blocks as an assistant's tool calls,
// tool_result blocks as tool messages); its answers are written by gateway/anthropic_answer.cpp.
#pragma once

#include <cstddef>
#include <string_view>

#include "core/chat_request.h"
#include "core/result.h"
#include "formats/openai_wire.h"

namespace mg {

enum class AnthropicBody {
  message,       // POST /v1/messages: max_tokens is required
  count_tokens,  // POST /v1/messages/count_tokens: the same body without max_tokens
};

// Parses a Messages API body. Fields the gateway cannot honour on any route (server tools, documents,
// MCP servers) are refused by name; `thinking` and `service_tier` are accepted and not passed on.
Result<ChatRequest> parse_anthropic_messages(std::string_view body, AnthropicBody kind, const JsonLimits& limits = {},
                                             std::size_t* parsed_bytes = nullptr);

}  // namespace mg
