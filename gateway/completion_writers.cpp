#include "gateway/completion_writers.h"

#include "core/json_text.h"

namespace mg::gateway {
namespace {

using nlohmann::json;

std::string sse_data(const json& value) { return "data: " + to_json_text(value) + "\n\n"; }

json tool_calls_json(const std::vector<ToolCall>& calls) {
  json out = json::array();
  for (const ToolCall& call : calls) {
    out.push_back({{"id", call.id}, {"type", call.type}, {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
  }
  return out;
}

// OpenAI's chat and completions streams: one data chunk per event, usage only when asked for, [DONE].
class OpenAiFormat final : public AnswerFormat {
 public:
  explicit OpenAiFormat(const ResponseIdentity& identity) : identity_(identity), formatter_(identity) {}

  std::string stream_event(const ChatEvent& event) override {
    if (std::holds_alternative<UsageReport>(event) && !identity_.include_usage_in_stream) return {};
    return formatter_.sse_chunk(event);
  }
  std::string stream_end() override { return "data: [DONE]\n\n"; }
  // After the first byte, a failure must never look like a clean end: an in-band error, then [DONE].
  std::string stream_failure(const Error& error) override { return sse_data(formatter_.error_chunk(error)) + stream_end(); }
  Result<std::string> whole(const Completion& completion) override { return formatter_.completion_text(completion); }

 private:
  const ResponseIdentity& identity_;
  ChunkFormatter formatter_;
};

}  // namespace

json ChunkFormatter::envelope(bool is_chunk) const {
  const char* object = identity_.flavor == ApiFlavor::completion ? "text_completion"
                       : is_chunk ? "chat.completion.chunk" : "chat.completion";
  json out = {{"id", identity_.id}, {"object", object}, {"created", identity_.created}};
  out["model"] = identity_.route ? identity_.route->entry->model_id : "";
  out["provider"] = identity_.route ? identity_.route->entry->provider : "";
  out["system_fingerprint"] = nullptr;
  return out;
}

json ChunkFormatter::text_choice(int choice, const std::string& text, const char* finish_reason) const {
  return {{"index", choice}, {"text", text}, {"logprobs", nullptr},
          {"finish_reason", finish_reason ? json(finish_reason) : json(nullptr)}};
}

json ChunkFormatter::chunk_with_choice(int choice, json delta, const char* finish_reason) {
  if (take_role(choice)) delta["role"] = "assistant";
  json out = envelope(true);
  out["choices"] = json::array({{{"index", choice}, {"delta", std::move(delta)}, {"logprobs", nullptr},
                                 {"finish_reason", finish_reason ? json(finish_reason) : json(nullptr)}}});
  return out;
}

std::optional<json> ChunkFormatter::chunk(const ChatEvent& event) {
  bool completion_flavor = identity_.flavor == ApiFlavor::completion;
  if (auto delta = std::get_if<TextDelta>(&event)) {
    if (!completion_flavor) return chunk_with_choice(delta->choice, {{"content", delta->text}}, nullptr);
    json out = envelope(true);
    out["choices"] = json::array({text_choice(delta->choice, delta->text, nullptr)});
    return out;
  }
  if (auto call = std::get_if<ToolCallDelta>(&event)) {
    json fragment = {{"index", call->index}, {"function", {{"arguments", call->arguments}}}};
    if (!call->id.empty()) fragment["id"] = call->id, fragment["type"] = "function";
    if (!call->name.empty()) fragment["function"]["name"] = call->name;
    return chunk_with_choice(call->choice, {{"tool_calls", json::array({std::move(fragment)})}}, nullptr);
  }
  if (auto finished = std::get_if<ChoiceFinished>(&event)) {
    if (completion_flavor) {
      json out = envelope(true);
      out["choices"] = json::array({text_choice(finished->choice, "", to_string(finished->reason))});
      return out;
    }
    json out = chunk_with_choice(finished->choice, json::object(), to_string(finished->reason));
    out["choices"][0]["native_finish_reason"] = finished->native_reason;
    return out;
  }
  if (auto usage_report = std::get_if<UsageReport>(&event)) {
    json out = envelope(true);
    out["choices"] = json::array();
    out["usage"] = usage(*usage_report);
    return out;
  }
  return std::nullopt;
}

std::string ChunkFormatter::sse_chunk(const ChatEvent& event) {
  if (auto direct = direct_sse(event)) return std::move(*direct);
  auto value = chunk(event);
  return value ? sse_data(*value) : std::string();
}

// The events of every chat stream (text, finish, usage) are written directly, without the DOM: keys in
// the order nlohmann writes them (sorted), so both paths give the same bytes. Nullopt for other events
// and for text that is not valid UTF-8, which the DOM path repairs.
std::optional<std::string> ChunkFormatter::direct_sse(const ChatEvent& event) {
  if (identity_.flavor != ApiFlavor::chat || !chunk_envelope_tail()) return std::nullopt;
  if (auto delta = std::get_if<TextDelta>(&event)) return text_delta_sse(*delta);
  if (auto finished = std::get_if<ChoiceFinished>(&event)) return finish_sse(*finished);
  if (auto usage_report = std::get_if<UsageReport>(&event)) return usage_sse(*usage_report);
  return std::nullopt;
}

std::optional<std::string> ChunkFormatter::text_delta_sse(const TextDelta& delta) {
  std::string out = "data: {\"choices\":[{\"delta\":{\"content\":";
  if (!append_json_string(out, delta.text)) return std::nullopt;
  if (take_role(delta.choice)) out += ",\"role\":\"assistant\"";
  out += "},\"finish_reason\":null,\"index\":";
  return end_choice_chunk(std::move(out), delta.choice);
}

std::optional<std::string> ChunkFormatter::finish_sse(const ChoiceFinished& finished) {
  std::string native = ",\"native_finish_reason\":";
  if (!append_json_string(native, finished.native_reason)) return std::nullopt;  // before the role is taken
  std::string out = "data: {\"choices\":[{\"delta\":{";
  if (take_role(finished.choice)) out += "\"role\":\"assistant\"";
  out += "},\"finish_reason\":";
  append_json_string(out, to_string(finished.reason));
  out += ",\"index\":";
  return end_choice_chunk(std::move(out), finished.choice, native);
}

std::optional<std::string> ChunkFormatter::usage_sse(const UsageReport& route_usage) const {
  std::string out = "data: {\"choices\":[],";
  out += *tail_;
  append_usage(out, route_usage);  // "usage" sorts last
  out += "}\n\n";
  return out;
}

// ,"usage":{...}, as usage() has it.
void ChunkFormatter::append_usage(std::string& out, const UsageReport& route_usage) const {
  auto [usage, cost] = billed(route_usage);
  out += ",\"usage\":{\"completion_tokens\":";
  out += std::to_string(usage.completion_tokens);
  out += ",\"cost\":";
  append_json_number(out, cost);
  out += ",\"prompt_tokens\":";
  out += std::to_string(usage.prompt_tokens);
  out += ",\"prompt_tokens_details\":{\"cached_tokens\":";
  out += std::to_string(usage.cached_prompt_tokens);
  out += "},\"total_tokens\":";
  out += std::to_string(usage.prompt_tokens + usage.completion_tokens);
  out += '}';
}

// Ends a chunk of one choice whose fields up to "index" are written: the index, "logprobs", then
// `last_fields` (each with its leading comma), and the envelope.
std::string ChunkFormatter::end_choice_chunk(std::string out, int choice, std::string_view last_fields) const {
  out += std::to_string(choice);
  out += ",\"logprobs\":null";
  out += last_fields;
  out += "}],";
  out += *tail_;
  out += "}\n\n";
  return out;
}

bool ChunkFormatter::take_role(int choice) {
  auto at = static_cast<std::size_t>(choice);
  if (role_sent_.size() <= at) role_sent_.resize(at + 1, false);
  if (role_sent_[at]) return false;
  role_sent_[at] = true;
  return true;
}

// The chunk envelope after "choices", made once per route; nullopt when the route's names are not
// valid UTF-8 (the DOM path repairs them).
const std::optional<std::string>& ChunkFormatter::chunk_envelope_tail() {
  if (tail_made_ && tail_route_ == identity_.route) return tail_;
  tail_made_ = true;
  tail_route_ = identity_.route;
  tail_ = envelope_fields("chat.completion.chunk");
  return tail_;
}

// "created":...,"id":...,"model":...,"object":...,"provider":...,"system_fingerprint":null: the envelope's
// fields after "choices", as envelope() has them; nullopt for names that are not valid UTF-8.
std::optional<std::string> ChunkFormatter::envelope_fields(const char* object) const {
  std::string out = "\"created\":" + std::to_string(identity_.created) + ",\"id\":";
  bool valid = append_json_string(out, identity_.id);
  out += ",\"model\":";
  valid = valid && append_json_string(out, identity_.route ? identity_.route->entry->model_id : "");
  out += ",\"object\":\"";
  out += object;
  out += "\",\"provider\":";
  valid = valid && append_json_string(out, identity_.route ? identity_.route->entry->provider : "");
  out += ",\"system_fingerprint\":null";
  return valid ? std::optional<std::string>(std::move(out)) : std::nullopt;
}

// A chat completion of text answers, nearly every whole answer, is written directly; tool calls, the
// legacy completion flavor and text that is not valid UTF-8 go through the DOM. The same bytes either way.
std::string ChunkFormatter::completion_text(const Completion& completion) const {
  if (auto direct = direct_completion(completion)) return std::move(*direct);
  return to_json_text(this->completion(completion));
}

std::optional<std::string> ChunkFormatter::direct_completion(const Completion& completion) const {
  if (identity_.flavor != ApiFlavor::chat) return std::nullopt;
  std::string out = "{\"choices\":[";
  for (std::size_t i = 0; i < completion.choices.size(); ++i) {
    const ChoiceResult& result = completion.choices[i];
    if (!result.tool_calls.empty()) return std::nullopt;
    out += i == 0 ? "{\"finish_reason\":" : ",{\"finish_reason\":";
    append_json_string(out, to_string(result.finish_reason.value_or(FinishReason::stop)));
    out += ",\"index\":" + std::to_string(i) + ",\"logprobs\":null,\"message\":{\"content\":";
    if (!append_json_string(out, result.text)) return std::nullopt;
    out += ",\"refusal\":null,\"role\":\"assistant\"},\"native_finish_reason\":";
    if (!append_json_string(out, result.native_finish_reason)) return std::nullopt;
    out += "}";
  }
  auto fields = envelope_fields("chat.completion");
  if (!fields) return std::nullopt;
  out += "],";
  out += *fields;
  append_usage(out, completion.usage.value_or(UsageReport{}));
  out += "}";
  return out;
}

json ChunkFormatter::error_chunk(const Error& error) const {
  json out = envelope(true);
  out["error"] = {{"message", error.message}, {"type", error.type},
                  {"code", error.code.empty() ? json(nullptr) : json(error.code)}};
  json choice = {{"index", 0}, {"finish_reason", "error"}, {"logprobs", nullptr}};
  if (identity_.flavor == ApiFlavor::completion) choice["text"] = "";
  else choice["delta"] = json::object();
  out["choices"] = json::array({std::move(choice)});
  return out;
}

// What the client is billed: the route's usage and cost, plus what earlier attempts carried over.
std::pair<UsageReport, double> ChunkFormatter::billed(const UsageReport& route_usage) const { return billed_usage(identity_, route_usage); }

std::pair<UsageReport, double> billed_usage(const ResponseIdentity& identity, const UsageReport& route_usage) {
  double cost = identity.carried_cost_usd + (identity.route ? identity.route->cost_usd(route_usage) : 0.0);
  return {identity.carried_usage + route_usage, cost};
}

json ChunkFormatter::usage(const UsageReport& route_usage) const {
  auto [usage, cost] = billed(route_usage);
  return {{"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens},
          {"cost", cost},
          {"prompt_tokens_details", {{"cached_tokens", usage.cached_prompt_tokens}}}};
}

json ChunkFormatter::completion(const Completion& completion) const {
  json out = envelope(false);
  out["object"] = identity_.flavor == ApiFlavor::completion ? "text_completion" : "chat.completion";
  json choices = json::array();
  for (std::size_t i = 0; i < completion.choices.size(); ++i) {
    const ChoiceResult& result = completion.choices[i];
    const char* reason = to_string(result.finish_reason.value_or(FinishReason::stop));
    int index = static_cast<int>(i);
    if (identity_.flavor == ApiFlavor::completion) {
      choices.push_back(text_choice(index, result.text, reason));
      continue;
    }
    json message = {{"role", "assistant"}, {"refusal", nullptr}};
    message["content"] = result.text.empty() && !result.tool_calls.empty() ? json(nullptr) : json(result.text);
    if (!result.tool_calls.empty()) message["tool_calls"] = tool_calls_json(result.tool_calls);
    choices.push_back({{"index", index}, {"message", std::move(message)}, {"logprobs", nullptr},
                       {"finish_reason", reason}, {"native_finish_reason", result.native_finish_reason}});
  }
  out["choices"] = std::move(choices);
  out["usage"] = usage(completion.usage.value_or(UsageReport{}));
  return out;
}

std::vector<std::pair<std::string, std::string>> route_headers(const ResponseIdentity& identity) {
  if (!identity.route) return {};
  return {{"x-modelgate-route", identity.route->name()}};
}

std::unique_ptr<AnswerFormat> make_openai_format(const ResponseIdentity& identity) { return std::make_unique<OpenAiFormat>(identity); }

}  // namespace mg::gateway
