// The typed events every provider produces and both response writers (SSE and JSON) consume.
// One event type, two writers: streaming and non-streaming never take separate code paths.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/result.h"

namespace mg {

enum class FinishReason { stop, length, tool_calls, content_filter, error };
const char* to_string(FinishReason reason);

struct TextDelta {
  int choice = 0;
  std::string text;
};

// One fragment of a tool call; `id` and `name` are set only on the first fragment of a call.
struct ToolCallDelta {
  int choice = 0;
  int index = 0;  // position of the call within the choice
  std::string id;
  std::string name;
  std::string arguments;  // a piece of the JSON arguments text
};

struct UsageReport {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cached_prompt_tokens = 0;  // part of prompt_tokens, never billed twice
  std::int64_t cache_write_prompt_tokens = 0;  // part of prompt_tokens: written to the route's cache (Anthropic's cache_creation_input_tokens)
};

inline UsageReport operator+(const UsageReport& a, const UsageReport& b) {
  return {a.prompt_tokens + b.prompt_tokens, a.completion_tokens + b.completion_tokens, a.cached_prompt_tokens + b.cached_prompt_tokens,
          a.cache_write_prompt_tokens + b.cache_write_prompt_tokens};
}

struct ChoiceFinished {
  int choice = 0;
  FinishReason reason = FinishReason::stop;
  std::string native_reason;  // the provider's own word for it
  std::string stop_sequence{};  // the stop sequence that ended it, where the provider knows; '' otherwise
};

// One input's embedding vector (embedding requests only; they never stream). Doubles, so numbers an
// upstream sent as JSON reach the client as it wrote them; float32 from base64 converts exactly.
struct EmbeddingVector {
  int index = 0;  // of the input it embeds
  std::vector<double> values;
};

// An SSE comment from the upstream (a keep-alive such as ": OPENROUTER PROCESSING"): passed on to a
// streaming client as a comment, never as data, and it promises nothing.
struct UpstreamComment {
  std::string text;  // what followed the ':'
};

// The answer is complete: always the last event of a successful stream.
struct StreamDone {};

// The answer failed: always the last event of a failed stream.
struct StreamFailed {
  Error error;
};

using ChatEvent =
    std::variant<TextDelta, ToolCallDelta, UsageReport, ChoiceFinished, EmbeddingVector, UpstreamComment, StreamDone, StreamFailed>;

inline bool is_terminal(const ChatEvent& event) {
  return std::holds_alternative<StreamDone>(event) || std::holds_alternative<StreamFailed>(event);
}

}  // namespace mg
