// Validating parser: OpenAI / OpenRouter request JSON -> ChatRequest, read with simdjson's On-Demand API
// (core/json_ondemand.h) in one pass over the body. The messages, nearly all of a body, are read typed
// off the text (openai_chat_message.cpp); every other member is small and is read as a DOM with
// ObjectReader.
//
// Field checks throw SchemaViolation (json_object_reader.h), caught once in parse_with_ondemand(): it
// keeps each of forty fields to one line instead of threading a Result through all of them.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>

#include "core/json_object_reader.h"
#include "formats/ondemand_request.h"
#include "formats/openai_chat_message.h"
#include "formats/openai_wire.h"

namespace mg {
namespace {

using nlohmann::json;
using simdjson::ondemand::json_type;
namespace od = ondemand;

constexpr int kMaxStopSequences = 4;
constexpr std::int64_t kMaxTokenLimit = 100'000'000;

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

// Every member but a chat request's messages, which `messages` holds (nullopt when absent or null).
ChatRequest parse_request_object(const json& document, ApiFlavor flavor, std::optional<std::vector<Message>> messages) {
  ObjectReader body(document, "");
  ChatRequest request;
  request.flavor = flavor;
  parse_models(body, request);
  if (flavor == ApiFlavor::chat) {
    if (!messages) violate("messages", "is required");
    if (messages->empty()) violate("messages", "must contain at least one message");
    request.messages = std::move(*messages);
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

class RequestReader {
 public:
  explicit RequestReader(ApiFlavor flavor) : flavor_(flavor) {}

  void read(od::Value root) {
    od::for_each_field(root, od::Path(), [&](std::string_view key, od::Value value, const od::Path& path) {
      if (flavor_ == ApiFlavor::chat && key == "messages") read_messages(value, path);
      else od::set_member(members_, key, value);  // the last of duplicate keys wins, as for messages
    });
    request_ = parse_request_object(members_, flavor_, std::move(messages_));
  }

  ChatRequest take() { return std::move(request_); }

 private:
  void read_messages(od::Value value, const od::Path& path) {
    messages_.reset();
    if (od::is_null(value)) return;
    if (value.type() != json_type::array) od::wrong_type(path, "an array of messages", value);
    messages_.emplace();
    od::for_each_element(value, path, [&](od::Value message, const od::Path& at) { od::append_counted(*messages_, read_chat_message(message, at)); });
  }

  ApiFlavor flavor_;
  json members_ = json::object();
  std::optional<std::vector<Message>> messages_;
  ChatRequest request_;
};

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

Result<nlohmann::json> parse_json_document(std::string_view body, const JsonLimits& limits, std::size_t* parsed_bytes) {
  if (Status depth = check_nesting_depth(body, limits.max_depth); !depth) return depth.error();
  ondemand::Limits budget;
  budget.max_parsed_bytes = limits.max_parsed_bytes;
  return ondemand::read_document(body, budget, parsed_bytes);
}

Result<ChatRequest> parse_chat_request(std::string_view body, ApiFlavor flavor, const JsonLimits& limits, std::size_t* parsed_bytes) {
  RequestReader reader(flavor);
  return read_ondemand_request(body, limits, parsed_bytes, reader);
}

}  // namespace mg
