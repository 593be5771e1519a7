// What mistral-common does to a chat request before its tokens are built, for tokenizer versions 1 to 3:
// the checks of MistralRequestValidator (serving mode, MistralRequestValidatorV3 for v3) and the merging
// of InstructRequestNormalizer. build_mistral_prompt runs both; they are apart so that the gateway can
// check a request without a tokenizer, and so that each rule has one home.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "local_engine/chat/chat_message.h"
#include "local_engine/chat/mistral_chat_template.h"

namespace mg::engine {

// Throws std::invalid_argument naming the first broken rule and the message it concerns:
//  - at least one message; a lone message is a user or system message; the last message is not an
//    assistant message unless it has `prefix` (and only the last may have it);
//  - after system: user, assistant or system; after user: assistant, system or user; after assistant:
//    assistant, user or tool; after tool: assistant, tool or user;
//  - as many tool messages follow an assistant message as it made calls (mistral-common does not count
//    the calls of the very first message, and neither does this);
//  - an assistant message has content or tool calls, not both and not neither;
//  - function names (tools, calls, tool messages) match [a-zA-Z0-9_-]{1,64};
//  - v3: every call and every tool message carries an id of 9 letters or digits;
//  - v1: no tools, tool calls or tool messages at all (mistral-common ignores a v1 tool list; we refuse
//    it, so that a caller never believes the model saw its tools).
void validate_mistral_request(const ChatConversation& conversation, MistralTemplateVersion version);

// The conversation as mistral-common's tokenizers see it after normalization.
struct MistralInstructRequest {
  // Every system message's non-empty content, joined by "\n\n", wherever the messages stood.
  std::optional<std::string> system_prompt;
  // System messages removed; each run of consecutive user (or assistant) messages merged into one, their
  // non-empty contents joined by "\n\n" (assistant tool calls concatenated); tool messages kept one by
  // one; an empty user message put first when the first one left is not a user message.
  std::vector<ChatMessage> messages;
};

MistralInstructRequest normalize_mistral_request(const ChatConversation& conversation);

// A v3 tool call id: exactly 9 characters of [a-zA-Z0-9].
bool is_mistral_tool_call_id(std::string_view id);

}  // namespace mg::engine
