// Mistral's chat formats, built at the token level exactly as mistral-common (Mistral's reference
// tokenizer library) builds them for its tokenizer versions 1, 2 and 3: the prompt ids a Mistral or
// Mixtral model gets for a conversation. Every segment is encoded on its own (BOS, control ids,
// encode(text) with SentencePiece's dummy-prefix space, EOS); the whole prompt is never rendered as one
// string and tokenized again, which would join and split pieces differently at the seams.
//
//  v1  Mistral 7B v0.1/v0.2, Mixtral 8x7B: "[INST] ... [/INST]" as plain text, system prompt in front of
//      the first user message, no tools.
//  v2  control tokens [INST] [/INST] [TOOL_CALLS] [AVAILABLE_TOOLS] [/AVAILABLE_TOOLS] [TOOL_RESULTS]
//      [/TOOL_RESULTS]; system prompt and tool list in front of the last user message; tool calls and
//      results before the last user message left out.
//  v3  Mistral 7B v0.3, Mixtral 8x22B, Codestral 22B: as v2, with tool call ids in calls and results and
//      the whole tool history kept.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "local_engine/chat/chat_message.h"
#include "local_engine/tokenizer/sentencepiece_tokenizer.h"

namespace mg::engine {

enum class MistralTemplateVersion { v1, v2, v3 };

std::string_view version_name(MistralTemplateVersion version);

// The prompt ids for a conversation, as mistral-common's MistralTokenizer.encode_chat_completion gives
// them: BOS first, then the messages; after the last user (or tool) message it stops, ready for the
// model's answer. A final assistant message with `prefix` is encoded without EOS, for the model to
// continue (v2/v3 drop its trailing spaces, as mistral-common does).
//
// Throws std::invalid_argument, naming the message and the rule, for what mistral-common refuses in
// serving mode (see mistral_request_rules.h) and for what the version cannot express: tool calls, tool
// results or a tool list with v1; tool parameters that are not a JSON object. Throws
// std::invalid_argument too when a v2/v3 tokenizer lacks the control pieces.
std::vector<std::int32_t> build_mistral_prompt(const SentencePieceTokenizer& tokenizer, MistralTemplateVersion version,
                                               const ChatConversation& conversation);

// The version a model's tokenizer calls for. The vocabulary decides v1 against v2/v3: [INST] as a
// control piece (with the six tool control pieces beside it) means v2/v3, [INST] as plain text means v1.
// Between v2 and v3, which share the 32768-piece vocabulary, the GGUF's tokenizer.chat_template decides
// when it is given: a template that writes tool calls or results without "call_id" is v2; anything else
// is v3 (Mistral 7B v0.3, Mixtral 8x22B and Codestral, the open models with this vocabulary, are v3).
// Throws std::invalid_argument when the template is not Mistral's (no "[INST]" in it) or when the
// vocabulary has [INST] as a control piece but lacks one of the tool control pieces.
MistralTemplateVersion select_template(const SentencePieceTokenizer& tokenizer,
                                       std::optional<std::string_view> gguf_chat_template);

}  // namespace mg::engine
