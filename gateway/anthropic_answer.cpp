#include "gateway/anthropic_answer.h"

#include "gateway/http_exchange.h"
#include "gateway/segmented_answer.h"

namespace mg::gateway {
namespace {

using nlohmann::json;

// Anthropic's error types, by status (its API reference's "HTTP errors").
const char* anthropic_error_type(int status) {
  switch (status) {
    case 400: case 415: case 422: return "invalid_request_error";
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503: case 529: return "overloaded_error";
    case 504: return "timeout_error";
    default: return status >= 400 && status < 500 ? "invalid_request_error" : "api_error";
  }
}

json error_body(const Error& error) {
  return {{"type", "error"}, {"error", {{"type", anthropic_error_type(error.http_status)}, {"message", error.message}}}};
}

std::string sse_event(const char* name, const json& data) { return std::string("event: ") + name + "\ndata: " + to_json_text(data) + "\n\n"; }

// `called_tools`: the answer holds tool_use blocks. Some routes end those with "stop": Anthropic's
// clients run the tools only on "tool_use".
const char* stop_reason(FinishReason reason, const std::string& stop_sequence, bool called_tools) {
  if (called_tools && reason != FinishReason::length) return "tool_use";
  switch (reason) {
    case FinishReason::length: return "max_tokens";
    case FinishReason::tool_calls: return "tool_use";
    case FinishReason::content_filter: return "refusal";
    case FinishReason::stop:
    case FinishReason::error: break;
  }
  return stop_sequence.empty() ? "end_turn" : "stop_sequence";
}

json stop_sequence_json(const std::string& stop_sequence) { return stop_sequence.empty() ? json(nullptr) : json(stop_sequence); }

// Anthropic counts cached prompt tokens apart from input_tokens; OpenAI's prompt_tokens include them.
json usage_json(const ResponseIdentity& identity, const UsageReport& route_usage) {
  auto [usage, cost] = billed_usage(identity, route_usage);
  return {{"input_tokens", usage.prompt_tokens - usage.cached_prompt_tokens - usage.cache_write_prompt_tokens},
          {"output_tokens", usage.completion_tokens},
          {"cache_read_input_tokens", usage.cached_prompt_tokens},
          {"cache_creation_input_tokens", usage.cache_write_prompt_tokens},
          {"cost", cost}};
}

std::string model_of(const ResponseIdentity& identity) { return identity.route ? identity.route->entry->model_id : ""; }

// The tool call's arguments as the object Anthropic's `input` is. A call cut by max_tokens has what it
// could parse, {} (the answer says max_tokens); any other route whose arguments are no JSON object gets
// the answer refused rather than the call changed.
Result<json> tool_input(const ToolCall& call, FinishReason reason) {
  json input = json::parse(call.arguments.empty() ? "{}" : call.arguments, nullptr, false);
  if (input.is_object()) return input;
  if (reason == FinishReason::length) return json::object();
  return Error::upstream("the route answered a call of tool '" + call.name + "' whose arguments are not a JSON object", FailureClass::transient);
}

// Every tool_use block has an id, as Anthropic's clients expect; a call the route gave none gets one
// from the answer's id and the call's place in it.
std::string tool_use_id(const ResponseIdentity& identity, const std::string& id, int call_index) {
  return id.empty() ? "toolu_" + identity.id + "_" + std::to_string(call_index) : id;
}

class AnthropicFormat final : public SegmentedAnswerFormat {
 public:
  explicit AnthropicFormat(const ResponseIdentity& identity) : identity_(identity) {}

  std::string stream_end() override {
    std::string out;
    start(out);
    close_segment(out);
    out += sse_event("message_delta", {{"type", "message_delta"},
                                       {"delta", {{"stop_reason", stop_reason(finish_.reason, finish_.stop_sequence, tool_calls_ > 0)},
                                                  {"stop_sequence", stop_sequence_json(finish_.stop_sequence)}}},
                                       {"usage", usage_json(identity_, usage_)}});
    out += sse_event("message_stop", {{"type", "message_stop"}});
    return out;
  }

  std::string stream_failure(const Error& error) override { return sse_event("error", error_body(error)); }

  Result<std::string> whole(const Completion& completion) override {
    json content = json::array();
    ChoiceResult first = completion.choices.empty() ? ChoiceResult{} : completion.choices.front();
    if (!first.text.empty()) content.push_back({{"type", "text"}, {"text", first.text}});
    const FinishReason reason = first.finish_reason.value_or(FinishReason::stop);
    for (std::size_t i = 0; i < first.tool_calls.size(); ++i) {
      const ToolCall& call = first.tool_calls[i];
      Result<json> input = tool_input(call, reason);
      if (!input) return input.error();
      content.push_back({{"type", "tool_use"}, {"id", tool_use_id(identity_, call.id, static_cast<int>(i))}, {"name", call.name},
                         {"input", std::move(input).value()}});
    }
    json message = message_json(std::move(content));
    message["stop_reason"] = stop_reason(reason, first.stop_sequence, !first.tool_calls.empty());
    message["stop_sequence"] = stop_sequence_json(first.stop_sequence);
    message["usage"] = usage_json(identity_, completion.usage.value_or(UsageReport{}));
    return to_json_text(message);
  }

 private:
  enum class Open { none, text, tool };

  void add_text(std::string& out, const std::string& text) override {
    if (open_ != Open::text) open_block(out, Open::text, {{"type", "text"}, {"text", ""}});
    out += sse_event("content_block_delta", {{"type", "content_block_delta"}, {"index", block_index_}, {"delta", {{"type", "text_delta"}, {"text", text}}}});
  }

  void add_tool_call(std::string& out, const ToolCallDelta& call) override {
    if (open_ != Open::tool || call.index != tool_index_) open_tool_block(out, call);
    if (call.arguments.empty()) return;
    out += sse_event("content_block_delta", {{"type", "content_block_delta"}, {"index", block_index_},
                                             {"delta", {{"type", "input_json_delta"}, {"partial_json", call.arguments}}}});
  }

  json message_json(json content) const {
    return {{"id", identity_.id}, {"type", "message"}, {"role", "assistant"}, {"model", model_of(identity_)}, {"content", std::move(content)},
            {"stop_reason", nullptr}, {"stop_sequence", nullptr}};
  }

  // message_start, once, before the first block.
  void start(std::string& out) {
    if (started_) return;
    started_ = true;
    json message = message_json(json::array());
    // Anthropic's clients read input_tokens here; routes report usage at the end, and message_delta
    // carries the real counts.
    message["usage"] = {{"input_tokens", identity_.estimated_prompt_tokens}, {"output_tokens", 0}};
    out += sse_event("message_start", {{"type", "message_start"}, {"message", std::move(message)}});
  }

  void open_block(std::string& out, Open kind, json block) {
    start(out);
    close_segment(out);
    ++block_index_;
    open_ = kind;
    out += sse_event("content_block_start", {{"type", "content_block_start"}, {"index", block_index_}, {"content_block", std::move(block)}});
    if (block_index_ == 0) out += sse_event("ping", {{"type", "ping"}});
  }

  void open_tool_block(std::string& out, const ToolCallDelta& call) {
    tool_index_ = call.index;
    open_block(out, Open::tool, {{"type", "tool_use"}, {"id", tool_use_id(identity_, call.id, tool_calls_++)}, {"name", call.name}, {"input", json::object()}});
  }

  void close_segment(std::string& out) override {
    if (open_ == Open::none) return;
    out += sse_event("content_block_stop", {{"type", "content_block_stop"}, {"index", block_index_}});
    open_ = Open::none;
  }


  const ResponseIdentity& identity_;
  bool started_ = false;
  Open open_ = Open::none;
  int block_index_ = -1;
  int tool_index_ = -1;
  int tool_calls_ = 0;  // tool_use blocks opened
};

}  // namespace

std::unique_ptr<AnswerFormat> make_anthropic_format(const ResponseIdentity& identity) { return std::make_unique<AnthropicFormat>(identity); }

HttpReply anthropic_error_reply(const Error& error) {
  HttpReply reply = error_reply(error);  // the status and Retry-After
  reply.body = to_json_text(error_body(error));
  return reply;
}

}  // namespace mg::gateway
