// ChatRequest -> OpenAI wire JSON: what an OpenAI-compatible upstream receives. Unmodelled fields come
// back exactly as the client sent them.
#include "formats/openai_wire.h"

namespace mg {
namespace {

using nlohmann::json;

template <class T>
void put(json& out, const char* key, const std::optional<T>& value) {
  if (value) out[key] = *value;
}

json message_json(const Message& message) {
  json out = message.extra;
  out["role"] = to_string(message.role);
  if (message.content) {
    out["content"] = *message.content;
  } else if (!message.content_parts.empty()) {
    json parts = json::array();
    for (const ContentPart& part : message.content_parts) parts.push_back(part.raw);
    out["content"] = std::move(parts);
  } else {
    out["content"] = nullptr;
  }
  if (!message.name.empty()) out["name"] = message.name;
  if (!message.tool_calls.empty()) {
    json calls = json::array();
    for (const ToolCall& call : message.tool_calls) {
      calls.push_back({{"id", call.id}, {"type", call.type}, {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
    }
    out["tool_calls"] = std::move(calls);
  }
  if (message.role == Role::tool) out["tool_call_id"] = message.tool_call_id;
  return out;
}

json tools_json(const std::vector<Tool>& tools) {
  json out = json::array();
  for (const Tool& tool : tools) {
    json function = {{"name", tool.name}};
    if (!tool.description.empty()) function["description"] = tool.description;
    if (!tool.parameters.is_null()) function["parameters"] = tool.parameters;
    put(function, "strict", tool.strict);
    out.push_back({{"type", tool.type}, {"function", std::move(function)}});
  }
  return out;
}

json tool_choice_json(const ToolChoice& choice) {
  switch (choice.mode) {
    case ToolChoice::Mode::none: return "none";
    case ToolChoice::Mode::automatic: return "auto";
    case ToolChoice::Mode::required: return "required";
    case ToolChoice::Mode::function: return {{"type", "function"}, {"function", {{"name", choice.function_name}}}};
  }
  return "auto";
}

json response_format_json(const ResponseFormat& format) {
  switch (format.type) {
    case ResponseFormat::Type::text: return {{"type", "text"}};
    case ResponseFormat::Type::json_object: return {{"type", "json_object"}};
    case ResponseFormat::Type::json_schema: {
      json schema = {{"name", format.schema_name}, {"schema", format.schema}};
      put(schema, "strict", format.strict);
      return {{"type", "json_schema"}, {"json_schema", std::move(schema)}};
    }
  }
  return {{"type", "text"}};
}

json threshold_json(const PercentileThreshold& threshold) {
  json out = json::object();
  put(out, "p50", threshold.p50);
  put(out, "p75", threshold.p75);
  put(out, "p90", threshold.p90);
  put(out, "p99", threshold.p99);
  return out;
}

json provider_json(const ProviderPreferences& prefs) {
  json out = prefs.extra;
  if (!prefs.order.empty()) out["order"] = prefs.order;
  if (!prefs.only.empty()) out["only"] = prefs.only;
  if (!prefs.ignore.empty()) out["ignore"] = prefs.ignore;
  if (!prefs.allow_fallbacks) out["allow_fallbacks"] = false;
  put(out, "sort", prefs.sort);
  if (prefs.max_price_prompt_usd_per_mtok || prefs.max_price_completion_usd_per_mtok) {
    json price = json::object();
    put(price, "prompt", prefs.max_price_prompt_usd_per_mtok);
    put(price, "completion", prefs.max_price_completion_usd_per_mtok);
    out["max_price"] = std::move(price);
  }
  if (prefs.require_parameters) out["require_parameters"] = true;
  if (prefs.preferred_min_throughput) out["preferred_min_throughput"] = threshold_json(*prefs.preferred_min_throughput);
  if (prefs.preferred_max_latency) out["preferred_max_latency"] = threshold_json(*prefs.preferred_max_latency);
  return out;
}

void put_sampling(json& out, const SamplingParams& sampling) {
  put(out, "temperature", sampling.temperature);
  put(out, "top_p", sampling.top_p);
  put(out, "top_k", sampling.top_k);
  put(out, "min_p", sampling.min_p);
  put(out, "frequency_penalty", sampling.frequency_penalty);
  put(out, "presence_penalty", sampling.presence_penalty);
  put(out, "repetition_penalty", sampling.repetition_penalty);
  put(out, "seed", sampling.seed);
  if (!sampling.logit_bias.empty()) {
    json bias = json::object();
    for (const auto& [token, value] : sampling.logit_bias) bias[std::to_string(token)] = value;
    out["logit_bias"] = std::move(bias);
  }
  if (sampling.logprobs) out["logprobs"] = true;
  put(out, "top_logprobs", sampling.top_logprobs);
}

}  // namespace

nlohmann::json to_openai_json(const ChatRequest& request) {
  json out = request.passthrough;
  out["model"] = request.model;
  if (!request.fallback_models.empty()) out["models"] = request.fallback_models;
  if (request.flavor == ApiFlavor::chat) {
    json messages = json::array();
    for (const Message& message : request.messages) messages.push_back(message_json(message));
    out["messages"] = std::move(messages);
  } else {
    out["prompt"] = request.prompt;
  }
  if (request.stream) out["stream"] = true;
  if (request.include_usage) out["stream_options"] = {{"include_usage", true}};
  if (request.n != 1) out["n"] = request.n;
  if (!request.stop.empty()) out["stop"] = request.stop;
  if (request.max_tokens) out[request.max_tokens_sent_as_max_completion_tokens ? "max_completion_tokens" : "max_tokens"] = *request.max_tokens;
  put_sampling(out, request.sampling);
  if (!request.tools.empty()) out["tools"] = tools_json(request.tools);
  if (request.tool_choice) out["tool_choice"] = tool_choice_json(*request.tool_choice);
  put(out, "parallel_tool_calls", request.parallel_tool_calls);
  if (request.response_format) out["response_format"] = response_format_json(*request.response_format);
  if (request.provider) out["provider"] = provider_json(*request.provider);
  if (!request.user.empty()) out["user"] = request.user;
  return out;
}

}  // namespace mg
