// Validating parser: OpenAI / OpenRouter request JSON -> ChatRequest.
//
// Field checks throw SchemaViolation (json_object_reader.h), caught once in parse_chat_request(): it keeps
// each of forty fields to one line instead of threading a Result through all of them.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>

#include "core/json_object_reader.h"
#include "core/json_reader.h"
#include "formats/openai_wire.h"

namespace mg {
namespace {

using nlohmann::json;

constexpr std::array kRoles{"system", "developer", "user", "assistant", "tool"};
constexpr int kMaxStopSequences = 4;
constexpr std::int64_t kMaxTokenLimit = 100'000'000;

Role parse_role(const std::string& name) {
  if (name == "system") return Role::system;
  if (name == "developer") return Role::developer;
  if (name == "user") return Role::user;
  if (name == "assistant") return Role::assistant;
  return Role::tool;
}

std::vector<ContentPart> parse_content_parts(const json& parts, const std::string& path) {
  std::vector<ContentPart> out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    ObjectReader part(parts[i], index_path(path, i));
    ContentPart parsed;
    parsed.type = part.required_string("type");
    if (parsed.type == "text") parsed.text = part.required_string("text");
    parsed.raw = parts[i];
    out.push_back(std::move(parsed));
  }
  return out;
}

ToolCall parse_tool_call(const json& value, const std::string& path) {
  ObjectReader reader(value, path);
  ToolCall call;
  call.id = reader.required_string("id");
  call.type = reader.one_of("type", std::array{"function"}).value_or("function");
  ObjectReader function(reader.require("function"), reader.path_of("function"));
  call.name = function.required_string("name");
  call.arguments = function.string("arguments").value_or("");
  return call;
}

void parse_content(ObjectReader& reader, Message& message) {
  const json* content = reader.find("content");
  if (!content) return;
  if (content->is_string()) {
    message.content = content->get<std::string>();
  } else if (content->is_array()) {
    message.content_parts = parse_content_parts(*content, reader.path_of("content"));
  } else {
    wrong_type(reader.path_of("content"), "a string, an array of content parts or null", *content);
  }
}

Message parse_message(const json& value, const std::string& path) {
  ObjectReader reader(value, path);
  Message message;
  reader.require("role");
  message.role = parse_role(*reader.one_of("role", kRoles));
  parse_content(reader, message);
  message.name = reader.string("name").value_or("");
  if (const json* calls = reader.find("tool_calls")) {
    if (message.role != Role::assistant) violate(reader.path_of("tool_calls"), "is only allowed on assistant messages");
    if (!calls->is_array()) wrong_type(reader.path_of("tool_calls"), "an array", *calls);
    for (std::size_t i = 0; i < calls->size(); ++i) {
      message.tool_calls.push_back(parse_tool_call((*calls)[i], index_path(reader.path_of("tool_calls"), i)));
    }
  }
  if (message.role == Role::tool) message.tool_call_id = reader.required_string("tool_call_id");
  bool has_content = message.content.has_value() || !message.content_parts.empty();
  if (!has_content && !(message.role == Role::assistant && !message.tool_calls.empty())) {
    violate(reader.path_of("content"), "is required for a " + std::string(to_string(message.role)) + " message");
  }
  message.extra = reader.unread();
  message.extra.erase("tool_call_id");
  return message;
}

std::vector<Message> parse_messages(ObjectReader& body) {
  const json& messages = body.require("messages");
  if (!messages.is_array()) wrong_type("messages", "an array of messages", messages);
  if (messages.empty()) violate("messages", "must contain at least one message");
  std::vector<Message> out;
  out.reserve(messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) out.push_back(parse_message(messages[i], index_path("messages", i)));
  return out;
}

std::string parse_prompt(ObjectReader& body) {
  const json& prompt = body.require("prompt");
  if (prompt.is_string()) return prompt.get<std::string>();
  if (prompt.is_array() && prompt.size() == 1 && prompt[0].is_string()) return prompt[0].get<std::string>();
  if (prompt.is_array() && prompt.size() > 1) violate("prompt", "must hold a single prompt; batches of prompts are not supported");
  wrong_type("prompt", "a string or an array of one string", prompt);
}

std::vector<std::string> parse_stop(ObjectReader& body) {
  const json* stop = body.find("stop");
  if (!stop) return {};
  std::vector<std::string> out;
  if (stop->is_string()) {
    out.push_back(stop->get<std::string>());
  } else if (stop->is_array()) {
    out = body.string_list("stop");
  } else {
    wrong_type("stop", "a string or an array of strings", *stop);
  }
  if (out.size() > kMaxStopSequences) violate("stop", "may hold at most 4 sequences; got " + std::to_string(out.size()));
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i].empty()) violate(stop->is_array() ? index_path("stop", i) : "stop", "must not be empty");
  }
  return out;
}

std::map<std::int64_t, double> parse_logit_bias(ObjectReader& body) {
  std::map<std::int64_t, double> out;
  const json* bias = body.find("logit_bias");
  if (!bias) return out;
  ObjectReader reader(*bias, "logit_bias");
  for (auto it = bias->begin(); it != bias->end(); ++it) {
    const std::string& key = it.key();
    std::int64_t token = -1;
    auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), token);
    if (ec != std::errc() || end != key.data() + key.size() || token < 0) {
      violate("logit_bias", "keys must be token ids (non-negative integers); got \"" + key + "\"");
    }
    out[token] = *reader.number(key, -100, 100);
  }
  return out;
}

SamplingParams parse_sampling(ObjectReader& body) {
  SamplingParams sampling;
  sampling.temperature = body.number("temperature", 0, 2);
  sampling.top_p = body.number("top_p", 0, 1);
  sampling.top_k = body.small_integer("top_k", 0, std::numeric_limits<int>::max());
  sampling.min_p = body.number("min_p", 0, 1);
  sampling.frequency_penalty = body.number("frequency_penalty", -2, 2);
  sampling.presence_penalty = body.number("presence_penalty", -2, 2);
  sampling.repetition_penalty = body.number("repetition_penalty", 0, 2);
  sampling.seed = body.integer("seed", std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max());
  sampling.logit_bias = parse_logit_bias(body);
  sampling.logprobs = body.boolean("logprobs").value_or(false);
  sampling.top_logprobs = body.small_integer("top_logprobs", 0, 20);
  if (sampling.top_logprobs && !sampling.logprobs) violate("top_logprobs", "requires 'logprobs' to be true");
  return sampling;
}

Tool parse_tool(const json& value, const std::string& path) {
  ObjectReader reader(value, path);
  Tool tool;
  tool.type = reader.one_of("type", std::array{"function"}).value_or("function");
  ObjectReader function(reader.require("function"), reader.path_of("function"));
  read_function_definition(function, tool);
  return tool;
}

std::vector<Tool> parse_tools(ObjectReader& body) {
  std::vector<Tool> out;
  const json* tools = body.find("tools");
  if (!tools) return out;
  if (!tools->is_array()) wrong_type("tools", "an array of tools", *tools);
  for (std::size_t i = 0; i < tools->size(); ++i) out.push_back(parse_tool((*tools)[i], index_path("tools", i)));
  return out;
}

std::optional<ToolChoice> parse_tool_choice(ObjectReader& body, const std::vector<Tool>& tools) {
  const json* choice = body.find("tool_choice");
  if (!choice) return std::nullopt;
  ToolChoice out;
  if (choice->is_string()) {
    std::string mode = *body.one_of("tool_choice", std::array{"none", "auto", "required"});
    out.mode = mode == "none" ? ToolChoice::Mode::none : mode == "auto" ? ToolChoice::Mode::automatic : ToolChoice::Mode::required;
  } else {
    ObjectReader reader(*choice, "tool_choice");
    reader.one_of("type", std::array{"function"});
    ObjectReader function(reader.require("function"), "tool_choice.function");
    out.mode = ToolChoice::Mode::function;
    out.function_name = function.required_string("name");
  }
  check_tool_choice(out, tools, "tool_choice.function.name");
  return out;
}

std::optional<ResponseFormat> parse_response_format(ObjectReader& body) {
  const json* value = body.find("response_format");
  if (!value) return std::nullopt;
  ObjectReader reader(*value, "response_format");
  reader.require("type");
  std::string type = *reader.one_of("type", std::array{"text", "json_object", "json_schema"});
  ResponseFormat format;
  format.type = type == "text" ? ResponseFormat::Type::text
              : type == "json_object" ? ResponseFormat::Type::json_object : ResponseFormat::Type::json_schema;
  if (format.type == ResponseFormat::Type::json_schema) {
    ObjectReader schema(reader.require("json_schema"), "response_format.json_schema");
    format.schema_name = schema.required_string("name");
    const json& body_schema = schema.require("schema");
    if (!body_schema.is_object()) wrong_type("response_format.json_schema.schema", "a JSON Schema object", body_schema);
    format.schema = body_schema;
    format.strict = schema.boolean("strict");
  }
  return format;
}

std::optional<PercentileThreshold> parse_threshold(ObjectReader& reader, std::string_view key) {
  const json* value = reader.find(key);
  if (!value) return std::nullopt;
  PercentileThreshold threshold;
  if (value->is_number()) {
    threshold.p50 = reader.number(key, 0, std::numeric_limits<double>::max());
    return threshold;
  }
  ObjectReader percentiles(*value, reader.path_of(key));
  constexpr double kMax = std::numeric_limits<double>::max();
  threshold.p50 = percentiles.number("p50", 0, kMax);
  threshold.p75 = percentiles.number("p75", 0, kMax);
  threshold.p90 = percentiles.number("p90", 0, kMax);
  threshold.p99 = percentiles.number("p99", 0, kMax);
  json unknown = percentiles.unread();
  if (!unknown.empty()) violate(percentiles.path_of(unknown.begin().key()), "is not a percentile; use p50, p75, p90 or p99");
  return threshold;
}

std::optional<ProviderPreferences> parse_provider(ObjectReader& body) {
  const json* value = body.find("provider");
  if (!value) return std::nullopt;
  ObjectReader reader(*value, "provider");
  ProviderPreferences prefs;
  prefs.order = reader.string_list("order");
  prefs.only = reader.string_list("only");
  prefs.ignore = reader.string_list("ignore");
  prefs.allow_fallbacks = reader.boolean("allow_fallbacks").value_or(true);
  prefs.sort = reader.one_of("sort", std::array{"price", "throughput", "latency"});
  if (const json* max_price = reader.find("max_price")) {
    ObjectReader price(*max_price, "provider.max_price");
    constexpr double kMax = std::numeric_limits<double>::max();
    prefs.max_price_prompt_usd_per_mtok = price.number("prompt", 0, kMax);
    prefs.max_price_completion_usd_per_mtok = price.number("completion", 0, kMax);
  }
  prefs.require_parameters = reader.boolean("require_parameters").value_or(false);
  prefs.preferred_min_throughput = parse_threshold(reader, "preferred_min_throughput");
  prefs.preferred_max_latency = parse_threshold(reader, "preferred_max_latency");
  prefs.extra = reader.unread();
  return prefs;
}

void parse_stream_options(ObjectReader& body, ChatRequest& request) {
  request.stream = body.boolean("stream").value_or(false);
  const json* options = body.find("stream_options");
  if (!options) return;
  ObjectReader reader(*options, "stream_options");
  request.include_usage = reader.boolean("include_usage").value_or(false);
}

void parse_max_tokens(ObjectReader& body, ChatRequest& request) {
  auto max_tokens = body.integer("max_tokens", 1, kMaxTokenLimit);
  auto max_completion_tokens = body.integer("max_completion_tokens", 1, kMaxTokenLimit);
  if (max_tokens && max_completion_tokens && *max_tokens != *max_completion_tokens) {
    violate("max_completion_tokens", "disagrees with 'max_tokens'; send one of them");
  }
  if (max_completion_tokens) {
    request.max_tokens = static_cast<int>(*max_completion_tokens);
    request.max_tokens_sent_as_max_completion_tokens = true;
  } else if (max_tokens) {
    request.max_tokens = static_cast<int>(*max_tokens);
  }
}

void parse_fallback_models(ObjectReader& body, ChatRequest& request) {
  request.fallback_models = body.string_list("models");
  for (std::size_t i = 0; i < request.fallback_models.size(); ++i) {
    if (request.fallback_models[i].empty()) violate(index_path("models", i), "must not be empty");
  }
}

void parse_models(ObjectReader& body, ChatRequest& request) {
  request.model = body.string("model").value_or("");
  parse_fallback_models(body, request);
  if (request.model.empty() && request.fallback_models.empty()) violate("model", "is required");
}

// modelgate's own request options, in an object of their own so no upstream ever sees them.
void parse_gateway_options(ObjectReader& body, ChatRequest& request) {
  const json* options = body.find("modelgate");
  if (!options) return;
  ObjectReader reader(*options, body.path_of("modelgate"));
  request.resume_stream = reader.boolean("resume").value_or(false);
  reader.reject_unread();
}

ChatRequest parse_request_object(const json& document, ApiFlavor flavor) {
  ObjectReader body(document, "");
  ChatRequest request;
  request.flavor = flavor;
  parse_models(body, request);
  if (flavor == ApiFlavor::chat) {
    request.messages = parse_messages(body);
  } else {
    request.prompt = parse_prompt(body);
  }
  parse_stream_options(body, request);
  request.n = body.small_integer("n", 1, kMaxChoices).value_or(1);
  request.stop = parse_stop(body);
  parse_max_tokens(body, request);
  request.sampling = parse_sampling(body);
  request.tools = parse_tools(body);
  request.tool_choice = parse_tool_choice(body, request.tools);
  request.parallel_tool_calls = body.boolean("parallel_tool_calls");
  request.response_format = parse_response_format(body);
  request.provider = parse_provider(body);
  request.user = body.string("user").value_or("");
  parse_gateway_options(body, request);
  request.passthrough = body.unread();
  return request;
}

}  // namespace

void read_function_definition(ObjectReader& function, Tool& tool) {
  tool.name = function.required_string("name");
  check_function_name(tool.name, function.path_of("name"));
  tool.description = function.string("description").value_or("");
  if (const json* parameters = function.find("parameters")) {
    if (!parameters->is_object()) wrong_type(function.path_of("parameters"), "a JSON Schema object", *parameters);
    tool.parameters = *parameters;
  }
  tool.strict = function.boolean("strict");
}

void read_gateway_extensions(const json& fields, ChatRequest& request) {
  ObjectReader body(fields, "");
  parse_fallback_models(body, request);
  request.provider = parse_provider(body);
  parse_gateway_options(body, request);
}

Result<nlohmann::json> parse_json_document(std::string_view body, const JsonLimits& limits, std::size_t* dom_bytes) {
  if (Status depth = check_nesting_depth(body, limits.max_depth); !depth) return depth.error();
  JsonSyntaxError error;
  std::optional<nlohmann::json> document = read_json_document(body, error, limits.max_dom_bytes, dom_bytes);
  if (error.over_budget) {
    return Error{413, FailureClass::caller_fault, "invalid_request_error", "request_too_complex", {},
                 "the request's JSON would take more than " + std::to_string(limits.max_dom_bytes >> 20) + " MiB of memory once parsed (" +
                     std::to_string(body.size()) + " bytes of text); send fewer, larger values",
                 0};
  }
  if (!document) {
    return Error::invalid_request("request body is not valid JSON: " + error.what + " at byte " + std::to_string(error.offset), {},
                                  "invalid_json");
  }
  return std::move(*document);
}

Result<ChatRequest> parse_chat_request(std::string_view body, ApiFlavor flavor, const JsonLimits& limits, std::size_t* parsed_bytes) {
  Result<nlohmann::json> document = parse_json_document(body, limits, parsed_bytes);
  if (!document) return document.error();
  try {
    return parse_request_object(*document, flavor);
  } catch (const SchemaViolation& violation) {
    return violation.error;
  }
}

}  // namespace mg
