// An Anthropic-native upstream's answer into ChatEvents (anthropic_upstream.h). Events are small and
// few: each is read with nlohmann, the tests' oracle too.
#include "formats/anthropic_upstream.h"

#include "formats/openai_wire.h"

namespace mg {
namespace {

using nlohmann::json;

constexpr std::int64_t kMaxContentBlocks = 4096;

Error malformed(const std::string& what) { return Error::upstream("upstream sent a malformed Anthropic " + what, FailureClass::transient); }

// A usage count when the field holds one; a null, a negative or a missing count says nothing.
std::optional<std::int64_t> count(const json& usage, const char* field) {
  auto value = usage.find(field);
  if (value == usage.end() || !value->is_number_integer() || value->get<std::int64_t>() < 0) return std::nullopt;
  return value->get<std::int64_t>();
}

// The event's content block index, or -1 when it has none in range (block indices key the decoder's
// state: bounded, not trusted).
std::int64_t block_index(const json& event) {
  auto index = event.find("index");
  if (index == event.end() || !index->is_number_integer()) return -1;
  std::int64_t value = index->get<std::int64_t>();
  return value >= 0 && value < kMaxContentBlocks ? value : -1;
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
  } else if (type == "content_block_stop") {
    end_block(event, out);
  } else if (type == "message_delta") {
    if (event.contains("usage")) read_usage(event["usage"]);
    if (event.contains("delta")) finish_choice(event["delta"], out);
  } else if (type == "message_stop") {
    finish(out);
  } else if (type == "error") {
    fail(upstream_error(text_field(event.value("error", json()), "message")), out);
  }  // ping, and event types added later: nothing to say
}

void AnthropicAnswerDecoder::start_block(const json& event, std::vector<ChatEvent>& out) {
  const json block = event.value("content_block", json::object());
  if (text_field(block, "type") != "tool_use") return;  // a text block starts empty; thinking blocks are not passed on
  std::int64_t index = block_index(event);
  if (index < 0) return fail(malformed("content block index"), out);
  int call = tool_calls_++;
  tool_call_of_block_[index] = ToolBlock{call, false};
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
    auto block = tool_call_of_block_.find(block_index(event));
    if (block == tool_call_of_block_.end()) return fail(malformed("input_json_delta outside a tool_use block"), out);
    std::string arguments = text_field(delta, "partial_json");
    if (arguments.empty()) return;
    block->second.has_arguments = true;
    out.push_back(ToolCallDelta{0, block->second.call, "", "", std::move(arguments)});
    ++content_events_;
  }  // thinking and signature deltas are not passed on
}

// A tool call whose input had no fields streamed none: its arguments are "{}", as in a whole message.
void AnthropicAnswerDecoder::end_block(const json& event, std::vector<ChatEvent>& out) {
  auto block = tool_call_of_block_.find(block_index(event));
  if (block == tool_call_of_block_.end() || block->second.has_arguments) return;
  block->second.has_arguments = true;
  out.push_back(ToolCallDelta{0, block->second.call, "", "", "{}"});
}

// Counts arrive in parts (input at message_start, output, cumulative, at message_delta), and a later
// event may repeat some as null: only the counts an event holds replace what came before.
void AnthropicAnswerDecoder::read_usage(const json& usage) {
  if (!usage.is_object()) return;
  UsageReport report = usage_.value_or(UsageReport{});
  if (auto cache_read = count(usage, "cache_read_input_tokens")) cache_read_ = *cache_read;
  if (auto cache_write = count(usage, "cache_creation_input_tokens")) cache_write_ = *cache_write;
  if (auto input = count(usage, "input_tokens")) input_tokens_ = *input;
  report.prompt_tokens = input_tokens_ + cache_read_ + cache_write_;
  report.cached_prompt_tokens = cache_read_;
  report.cache_write_prompt_tokens = cache_write_;
  if (auto output = count(usage, "output_tokens")) report.completion_tokens = *output;
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
      json input = block.value("input", json::object());
      out.push_back(ToolCallDelta{0, tool_calls_++, text_field(block, "id"), text_field(block, "name"), input.dump()});
      ++content_events_;
    }
  }
  if (message->contains("usage")) read_usage((*message)["usage"]);
  finish_choice(*message, out);
  finish(out);
}

}  // namespace mg
