// Reads what the decoder needs of an upstream's JSON answer or stream chunk in one pass with simdjson's
// On-Demand API, without building a DOM: a stream sends a chunk per token, and a DOM of each (a dozen
// nodes, their keys and a map each) cost more than the rest of the chunk's way through the gateway. The reading follows
// what a DOM would give: the last of duplicate keys wins, a value of the wrong type counts as absent
// (strings as empty, integers as 0), and what is not understood is skipped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mg {

struct ToolCallFragment {
  std::optional<std::int64_t> index;  // absent: the fragment's position in its array
  std::size_t position = 0;
  std::string id;
  std::string name;
  std::string arguments;
};

struct ChoiceFragment {
  std::optional<std::int64_t> index;
  bool has_body = false;  // the choice's "delta" (a chunk) or "message" (an answer) is an object
  std::string content;    // of the body
  std::string text;       // of the choice itself (the completions API, or an answer without a body)
  std::vector<ToolCallFragment> tool_calls;  // of the body
  std::string finish_reason;
};

struct UsageFragment {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t cached_prompt_tokens = 0;
};

struct AnswerChunk {
  std::optional<std::string> error;   // the upstream reported an error: its message, maybe empty
  std::optional<UsageFragment> usage;  // when "usage" is an object
  bool has_choices = false;            // "choices" is an array
  std::vector<ChoiceFragment> choices;  // its objects, in order
};

// `body_key`: the member of a choice that holds its body ("delta", "message"), or empty for none (the
// completions API). Nullopt when `text` is not a JSON object, or nests deeper than `max_depth`.
std::optional<AnswerChunk> read_answer_chunk(std::string_view text, std::string_view body_key, std::size_t max_depth = 64);

}  // namespace mg
