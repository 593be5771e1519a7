// Anthropic's Messages API on the upstream side: the gateway's one request type as the body an
// Anthropic-native provider takes, and that provider's answer (its SSE events or one message) back into
// the canonical ChatEvents. The client side of the same API is anthropic_messages.h.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/chat_request.h"
#include "core/result.h"
#include "formats/answer_decoder.h"

namespace mg {

// max_tokens when the client set none: the Messages API requires one.
inline constexpr int kAnthropicDefaultMaxTokens = 4096;

// The Messages API body for `request` (`model` still to be set): system and developer messages as
// `system`, tool calls as tool_use blocks, tool messages as tool_result blocks in a user turn, images as
// image blocks. A request the API cannot express (n > 1, a JSON response_format, logprobs, a non-text,
// non-image part, tool-call arguments that are no JSON object, no turn at all) gives an error naming it;
// seed and the penalties, which it has no words for, are left out.
Result<nlohmann::json> to_anthropic_json(const ChatRequest& request);

// Reads message_start, content_block_start/delta/stop, message_delta, message_stop, ping and error
// events, or a whole `message`, into text and tool-call deltas of choice 0, its finish, and usage
// (input, cache reads and cache writes together as prompt tokens, as OpenAI counts them).
class AnthropicAnswerDecoder final : public AnswerDecoder {
 public:
  explicit AnthropicAnswerDecoder(std::int64_t estimated_prompt_tokens) : estimated_prompt_tokens_(estimated_prompt_tokens) {}

  void on_stream_data(std::string_view data, std::vector<ChatEvent>& out) override;
  void on_stream_end(std::vector<ChatEvent>& out) override;
  void on_body(std::string_view body, std::vector<ChatEvent>& out) override;

 private:
  void on_event(const nlohmann::json& event, std::vector<ChatEvent>& out);
  void start_block(const nlohmann::json& event, std::vector<ChatEvent>& out);
  void add_delta(const nlohmann::json& event, std::vector<ChatEvent>& out);
  void end_block(const nlohmann::json& event, std::vector<ChatEvent>& out);
  void read_usage(const nlohmann::json& usage);
  void finish_choice(const nlohmann::json& fields, std::vector<ChatEvent>& out);
  void finish(std::vector<ChatEvent>& out);
  void fail(Error error, std::vector<ChatEvent>& out);

  std::int64_t estimated_prompt_tokens_;
  struct ToolBlock {
    int call;            // the tool call's index
    bool has_arguments;  // some of its input has been streamed
  };
  std::map<std::int64_t, ToolBlock> tool_call_of_block_;  // by content block index, for tool_use blocks
  int tool_calls_ = 0;
  std::int64_t input_tokens_ = 0, cache_read_ = 0, cache_write_ = 0;  // as reported so far
  std::int64_t content_events_ = 0;  // the output count when the upstream reports none
  std::optional<UsageReport> usage_;
  bool finished_ = false;
};

}  // namespace mg
