// An Anthropic-native upstream's answer into ChatEvents (anthropic_upstream.h). Events are small and
// few: each is read with nlohmann, the tests' oracle too.
#include "formats/anthropic_upstream.h"

#include "formats/openai_wire.h"

namespace mg {
namespace {

using nlohmann::json;

constexpr std::int64_t kMaxContentBlocks = 4096;  // block indices key the decoder's state: bounded, not trusted

Error malformed(const std::string& what) { return Error::upstream("upstream sent a malformed Anthropic " + what, FailureClass::transient); }

std::int64_t count(const json& usage, const char* field) {
  const json* value = usage.contains(field) ? &usage[field] : nullptr;
  return value && value->is_number_integer() ? value->get<std::int64_t>() : 0;
}

std::string text_field(const json& object, const char* field) {
  return object.is_object() && object.contains(field) && object[field].is_string() ? object[field].get<std::string>() : std::string();
}

}  // namespace

void AnthropicAnswerDecoder::on_stream_data(std::string_view data, std::vector<ChatEvent>& out) {
  if (finished_) return;
  Result<json> event = parse_json_document(data);
  if (!event || !event->is_object()) return fail(malformed("stream event"), out);
  on_event(*event, out);
}

void AnthropicAnswerDecoder::on_event(const json& event, std::vector<ChatEvent>& out) {
  const std::string type = text_field(event, "type");
  if (type == "message_start" && event.contains("message") && event["message"].is_object()) {
    if (event["message"].contains("usage")) read_usage(event["message"]["usage"]);
  } else if (type == "content_block_start") {
    start_block(event, out);
  } else if (type == "content_block_delta") {
    add_delta(event, out);
  } else if (type == "message_delta") {
    if (event.contains("usage")) read_usage(event["usage"]);
    if (event.contains("delta")) finish_choice(event["delta"], out);
  } else if (type == "message_stop") {
    finish(out);
  } else if (type == "error") {
    std::string message = text_field(event.value("error", json()), "message");
    fail(Error::upstream("upstream error: " + (message.empty() ? std::string("(no message)") : message), FailureClass::transient), out);
  }  // ping, content_block_stop, and event types added later: nothing to say
}

void AnthropicAnswerDecoder::start_block(const json& event, std::vector<ChatEvent>& out) {
  const json block = event.value("content_block", json::object());
  if (text_field(block, "type") != "tool_use") return;  // a text block starts empty; thinking blocks are not passed on
  std::int64_t index = event.value("index", json(-1)).is_number_integer() ? event["index"].get<std::int64_t>() : -1;
  if (index < 0 || index >= kMaxContentBlocks) return fail(malformed("content block index"), out);
  int call = tool_calls_++;
  tool_call_of_block_[index] = call;
  out.push_back(ToolCallDelta{0, call, text_field(block, "id"), text_field(block, "name"), ""});
  ++content_events_;
}

void AnthropicAnswerDecoder::add_delta(const json& event, std::vector<ChatEvent>& out) {
  const json delta = event.value("delta", json::object());
  const std::string type = text_field(delta, "type");
  if (type == "text_delta") {
    out.push_back(TextDelta{0, text_field(delta, "text")});
    ++content_events_;
  } else if (type == "input_json_delta") {
    std::int64_t index = event.value("index", json(-1)).is_number_integer() ? event["index"].get<std::int64_t>() : -1;
    auto call = tool_call_of_block_.find(index);
    if (call == tool_call_of_block_.end()) return fail(malformed("input_json_delta outside a tool_use block"), out);
    out.push_back(ToolCallDelta{0, call->second, "", "", text_field(delta, "partial_json")});
    ++content_events_;
  }  // thinking and signature deltas are not passed on
}

// Counts arrive in parts: input at message_start, output (cumulative) at message_delta.
void AnthropicAnswerDecoder::read_usage(const json& usage) {
  if (!usage.is_object()) return;
  UsageReport report = usage_.value_or(UsageReport{});
  std::int64_t cache_read = count(usage, "cache_read_input_tokens");
  std::int64_t cache_write = count(usage, "cache_creation_input_tokens");
  if (usage.contains("input_tokens")) {
    report.prompt_tokens = count(usage, "input_tokens") + cache_read + cache_write;
    report.cached_prompt_tokens = cache_read;
    report.cache_write_prompt_tokens = cache_write;
  }
  if (usage.contains("output_tokens")) report.completion_tokens = count(usage, "output_tokens");
  usage_ = report;
}

void AnthropicAnswerDecoder::finish_choice(const json& fields, std::vector<ChatEvent>& out) {
  std::string native = text_field(fields, "stop_reason");
  if (native.empty()) return;
  FinishReason reason = normalise_finish_reason(native);
  out.push_back(ChoiceFinished{0, reason, native, text_field(fields, "stop_sequence")});
}

void AnthropicAnswerDecoder::finish(std::vector<ChatEvent>& out) {
  if (finished_) return;
  finished_ = true;
  UsageReport usage = usage_.value_or(UsageReport{estimated_prompt_tokens_, content_events_, 0});
  if (usage_ && usage.prompt_tokens == 0) usage.prompt_tokens = estimated_prompt_tokens_;
  out.push_back(usage);
  out.push_back(StreamDone{});
}

void AnthropicAnswerDecoder::fail(Error error, std::vector<ChatEvent>& out) {
  if (finished_) return;
  finished_ = true;
  out.push_back(StreamFailed{std::move(error)});
}

void AnthropicAnswerDecoder::on_stream_end(std::vector<ChatEvent>& out) {
  fail(Error::upstream("the upstream stream ended before message_stop", FailureClass::transient), out);
}

void AnthropicAnswerDecoder::on_body(std::string_view body, std::vector<ChatEvent>& out) {
  Result<json> message = parse_json_document(body);
  if (!message || !message->is_object()) return fail(malformed("message: not a JSON object"), out);
  if (text_field(*message, "type") == "error") return on_event(*message, out);
  if (!message->contains("content") || !(*message)["content"].is_array()) return fail(malformed("message: no content"), out);
  for (const json& block : (*message)["content"]) {
    std::string type = text_field(block, "type");
    if (type == "text") {
      out.push_back(TextDelta{0, text_field(block, "text")});
      ++content_events_;
    } else if (type == "tool_use") {
      out.push_back(ToolCallDelta{0, tool_calls_++, text_field(block, "id"), text_field(block, "name"), block.value("input", json::object()).dump()});
      ++content_events_;
    }
  }
  if (message->contains("usage")) read_usage((*message)["usage"]);
  finish_choice(*message, out);
  finish(out);
}

}  // namespace mg
