#include "providers/openai_response_decoder.h"

#include <nlohmann/json.hpp>

#include "providers/openai_wire.h"

namespace mg {
namespace {

using nlohmann::json;

std::string string_or_empty(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::int64_t integer_or_zero(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

// Choice and tool-call indices come from the upstream and index the gateway's per-choice and per-call
// state (the answer being assembled, the roles already sent): out of range they make the chunk malformed,
// never a huge allocation or a write out of bounds.
constexpr std::int64_t kMaxToolCallsPerChoice = 1024;

std::optional<int> index_in_range(const json& object, const char* key, std::int64_t fallback, std::int64_t limit) {
  std::int64_t index = object.contains(key) ? integer_or_zero(object, key) : fallback;
  if (index < 0 || index >= limit) return std::nullopt;
  return static_cast<int>(index);
}

Error index_out_of_range(const char* what, std::int64_t limit) {
  return Error::upstream("upstream sent a malformed chunk: a " + std::string(what) + " index outside 0.." + std::to_string(limit - 1),
                         FailureClass::transient);
}

Error upstream_error_from(const json& error) {
  std::string message = error.is_object() ? string_or_empty(error, "message") : error.is_string() ? error.get<std::string>() : "";
  return Error::upstream("upstream error: " + (message.empty() ? std::string("(no message)") : message), FailureClass::transient);
}

}  // namespace

FinishReason normalise_finish_reason(std::string_view native) {
  if (native == "length" || native == "max_tokens" || native == "model_length") return FinishReason::length;
  if (native == "tool_calls" || native == "function_call" || native == "tool_use") return FinishReason::tool_calls;
  if (native == "content_filter" || native == "safety") return FinishReason::content_filter;
  if (native == "error") return FinishReason::error;
  return FinishReason::stop;  // "stop", "eos", "end_turn", "stop_sequence" and anything new
}

void OpenAiResponseDecoder::decode_usage(const json& usage) {
  if (!usage.is_object()) return;
  UsageReport report;
  report.prompt_tokens = integer_or_zero(usage, "prompt_tokens");
  report.completion_tokens = integer_or_zero(usage, "completion_tokens");
  if (auto details = usage.find("prompt_tokens_details"); details != usage.end() && details->is_object()) {
    report.cached_prompt_tokens = integer_or_zero(*details, "cached_tokens");
  }
  usage_ = report;
}

std::optional<Error> OpenAiResponseDecoder::decode_choice(const json& choice, bool streamed, std::vector<ChatEvent>& out) {
  if (!choice.is_object()) return std::nullopt;
  std::optional<int> choice_index = index_in_range(choice, "index", 0, kMaxChoices);
  if (!choice_index) return index_out_of_range("choice", kMaxChoices);
  const int index = *choice_index;
  const json* body = nullptr;
  if (flavor_ == ApiFlavor::chat) {
    auto it = choice.find(streamed ? "delta" : "message");
    if (it != choice.end() && it->is_object()) body = &*it;
  }
  std::string text = body ? string_or_empty(*body, "content") : string_or_empty(choice, "text");
  if (!text.empty()) {
    out.push_back(TextDelta{index, std::move(text)});
    ++content_events_;
  }
  if (body) {
    auto calls = body->find("tool_calls");
    if (calls != body->end() && calls->is_array()) {
      for (std::size_t i = 0; i < calls->size(); ++i) {
        const json& call = (*calls)[i];
        if (!call.is_object()) continue;
        std::optional<int> call_index = index_in_range(call, "index", static_cast<std::int64_t>(i), kMaxToolCallsPerChoice);
        if (!call_index) return index_out_of_range("tool call", kMaxToolCallsPerChoice);
        const json& function = call.contains("function") && call["function"].is_object() ? call["function"] : json::object();
        bool first = tool_calls_seen_.insert({index, *call_index}).second;
        out.push_back(ToolCallDelta{index, *call_index, first ? string_or_empty(call, "id") : "", first ? string_or_empty(function, "name") : "",
                                    string_or_empty(function, "arguments")});
        ++content_events_;
      }
    }
  }
  std::string native = string_or_empty(choice, "finish_reason");
  if (!native.empty()) out.push_back(ChoiceFinished{index, normalise_finish_reason(native), native});
  return std::nullopt;
}

void OpenAiResponseDecoder::finish(std::vector<ChatEvent>& out) {
  if (finished_) return;
  finished_ = true;
  out.push_back(usage_ ? *usage_ : UsageReport{estimated_prompt_tokens_, content_events_, 0});
  out.push_back(StreamDone{});
}

void OpenAiResponseDecoder::fail(Error error, std::vector<ChatEvent>& out) {
  if (finished_) return;
  finished_ = true;
  out.push_back(StreamFailed{std::move(error)});
}

void OpenAiResponseDecoder::on_stream_data(std::string_view data, std::vector<ChatEvent>& out) {
  if (finished_) return;
  if (data == "[DONE]") return finish(out);
  Result<json> chunk = parse_json_document(data);
  if (!chunk || !chunk->is_object()) return fail(Error::upstream("upstream sent a malformed stream chunk", FailureClass::transient), out);
  if (chunk->contains("error")) return fail(upstream_error_from((*chunk)["error"]), out);
  if (auto usage = chunk->find("usage"); usage != chunk->end()) decode_usage(*usage);
  if (auto choices = chunk->find("choices"); choices != chunk->end() && choices->is_array()) {
    for (const json& choice : *choices) {
      if (std::optional<Error> malformed = decode_choice(choice, true, out)) return fail(std::move(*malformed), out);
    }
  }
}

void OpenAiResponseDecoder::on_stream_end(std::vector<ChatEvent>& out) {
  fail(Error::upstream("the upstream stream ended before [DONE]", FailureClass::transient), out);
}

void OpenAiResponseDecoder::on_body(std::string_view body, std::vector<ChatEvent>& out) {
  Result<json> document = parse_json_document(body);
  if (!document || !document->is_object()) return fail(Error::upstream("upstream answered with malformed JSON", FailureClass::transient), out);
  if (document->contains("error")) return fail(upstream_error_from((*document)["error"]), out);
  auto choices = document->find("choices");
  if (choices == document->end() || !choices->is_array()) return fail(Error::upstream("upstream answer has no choices", FailureClass::transient), out);
  for (const json& choice : *choices) {
    if (std::optional<Error> malformed = decode_choice(choice, false, out)) return fail(std::move(*malformed), out);
  }
  if (auto usage = document->find("usage"); usage != document->end()) decode_usage(*usage);
  finish(out);
}

}  // namespace mg
