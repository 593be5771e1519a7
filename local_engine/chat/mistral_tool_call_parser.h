// Reading a v2/v3 Mistral model's answer: plain text, or [TOOL_CALLS] followed by a JSON list of calls
// ([{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "a1b2c3d4e"}]). The gateway turns the
// calls into OpenAI tool_calls; their ids must survive the round trip, since a v3 prompt writes them back.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "local_engine/chat/chat_message.h"
#include "local_engine/tokenizer/sentencepiece_tokenizer.h"

namespace mg::engine {

struct MistralAssistantOutput {
  std::string content;                   // decoded text before the first [TOOL_CALLS] (all of it without one)
  std::vector<ChatToolCall> tool_calls;  // in the model's order; arguments as json.dumps writes them
  std::string tool_call_text;            // decoded text after [TOOL_CALLS], for logs and error messages
  std::string error;                     // empty, or why tool_call_text is not a list of calls
};

// Parses generated ids (the prompt left out; an EOS and anything after it is ignored). Each segment after
// a [TOOL_CALLS] id must be a JSON list of {"name": string, "arguments": any, "id": string} objects (or a
// single such object); a missing "arguments" is {}, and string arguments are kept as the text they hold.
// A call without a valid v3 id (9 letters or digits) gets new_call_id(). Never throws for what the model
// wrote: a broken list sets `error` and leaves tool_calls empty.
MistralAssistantOutput parse_mistral_output(const SentencePieceTokenizer& tokenizer,
                                            std::span<const std::int32_t> generated,
                                            const std::function<std::string()>& new_call_id);

// A v3 tool call id (9 characters of [a-zA-Z0-9]) from 64 random bits: the caller owns the randomness.
std::string mistral_tool_call_id(std::uint64_t random_bits);

}  // namespace mg::engine
