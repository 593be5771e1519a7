// The gateway's one request type as an Anthropic Messages API body, for an Anthropic-native upstream.
#include "formats/anthropic_upstream.h"

#include <algorithm>

namespace mg {
namespace {

using nlohmann::json;

struct Unsupported {
  std::string why;
};

// "data:image/png;base64,AAA" as a base64 source; any other URL as a url source.
json image_block(const json& part) {
  const json& image = part.contains("image_url") ? part["image_url"] : json();
  std::string url = image.is_object() ? image.value("url", "") : image.is_string() ? image.get<std::string>() : "";
  if (url.starts_with("data:")) {
    std::size_t semicolon = url.find(";base64,");
    if (semicolon == std::string::npos) throw Unsupported{"an image data URL that is not base64"};
    return {{"type", "image"},
            {"source", {{"type", "base64"}, {"media_type", url.substr(5, semicolon - 5)}, {"data", url.substr(semicolon + 8)}}}};
  }
  if (url.empty()) throw Unsupported{"an image part without a URL"};
  return {{"type", "image"}, {"source", {{"type", "url"}, {"url", url}}}};
}

// Anthropic refuses text blocks of whitespace alone: they say nothing, so they are left out.
void append_text_block(json& blocks, const std::string& text) {
  if (text.find_first_not_of(" \t\r\n") != std::string::npos) blocks.push_back({{"type", "text"}, {"text", text}});
}

json content_blocks(const Message& message) {
  json blocks = json::array();
  if (message.content) append_text_block(blocks, *message.content);
  for (const ContentPart& part : message.content_parts) {
    if (part.type == "text") append_text_block(blocks, part.text);
    else if (part.type == "image_url") blocks.push_back(image_block(part.raw));
    else throw Unsupported{"a '" + part.type + "' content part"};
  }
  return blocks;
}

json tool_use_block(const ToolCall& call) {
  json input = call.arguments.empty() ? json::object() : json::parse(call.arguments, nullptr, false);
  if (!input.is_object()) throw Unsupported{"tool call '" + call.id + "' whose arguments are not a JSON object"};
  return {{"type", "tool_use"}, {"id", call.id}, {"name", call.name}, {"input", std::move(input)}};
}

json tool_result_block(const Message& message) {
  json result = {{"type", "tool_result"}, {"tool_use_id", message.tool_call_id}};
  if (message.tool_error) result["is_error"] = true;
  json blocks = content_blocks(message);
  if (!blocks.empty()) result["content"] = std::move(blocks);
  return result;
}

// The turn a message joins: Anthropic's turns alternate, so consecutive messages of one side (tool
// results and the user's next words) are one turn.
void append_turn(json& turns, const char* role, json blocks) {
  if (blocks.empty()) return;
  if (!turns.empty() && turns.back()["role"] == role) {
    for (json& block : blocks) turns.back()["content"].push_back(std::move(block));
    return;
  }
  turns.push_back({{"role", role}, {"content", std::move(blocks)}});
}

void write_conversation(const ChatRequest& request, json& body) {
  std::string system;
  json turns = json::array();
  for (const Message& message : request.messages) {
    switch (message.role) {
      case Role::system:
      case Role::developer: system += (system.empty() ? "" : "\n") + message.text(); break;
      case Role::user: append_turn(turns, "user", content_blocks(message)); break;
      case Role::tool: append_turn(turns, "user", json::array({tool_result_block(message)})); break;
      case Role::assistant: {
        json blocks = content_blocks(message);
        for (const ToolCall& call : message.tool_calls) blocks.push_back(tool_use_block(call));
        append_turn(turns, "assistant", std::move(blocks));
        break;
      }
    }
  }
  if (turns.empty()) throw Unsupported{"a conversation without a user or assistant message"};
  if (!system.empty()) body["system"] = system;
  body["messages"] = std::move(turns);
}

json tool_choice_json(const ChatRequest& request) {
  json choice = {{"type", "auto"}};
  if (request.tool_choice) {
    switch (request.tool_choice->mode) {
      case ToolChoice::Mode::none: choice["type"] = "none"; break;
      case ToolChoice::Mode::required: choice["type"] = "any"; break;
      case ToolChoice::Mode::function: choice = {{"type", "tool"}, {"name", request.tool_choice->function_name}}; break;
      case ToolChoice::Mode::automatic: break;
    }
  }
  if (request.parallel_tool_calls == false && choice["type"] != "none") choice["disable_parallel_tool_use"] = true;
  return choice;
}

// A tool's input_schema: Anthropic requires an object schema with its type.
json input_schema(const nlohmann::json& parameters) {
  json schema = parameters.is_object() ? parameters : json::object();
  if (!schema.contains("type")) schema["type"] = "object";
  return schema;
}

// Anthropic refuses tool_use blocks in a conversation that declares no tools: a conversation that used
// tools earlier and offers none now declares the ones it called, and forbids calling them.
json tools_called_earlier(const ChatRequest& request) {
  json tools = json::array();
  std::vector<std::string> names;
  for (const Message& message : request.messages) {
    for (const ToolCall& call : message.tool_calls) {
      if (std::find(names.begin(), names.end(), call.name) != names.end()) continue;
      names.push_back(call.name);
      tools.push_back({{"name", call.name}, {"input_schema", input_schema(json())}});
    }
  }
  return tools;
}

void write_tools(const ChatRequest& request, json& body) {
  if (request.tools.empty()) {
    json earlier = tools_called_earlier(request);
    if (earlier.empty()) return;
    body["tools"] = std::move(earlier);
    body["tool_choice"] = {{"type", "none"}};
    return;
  }
  json tools = json::array();
  for (const Tool& tool : request.tools) {
    json entry = {{"name", tool.name}, {"input_schema", input_schema(tool.parameters)}};
    if (!tool.description.empty()) entry["description"] = tool.description;
    tools.push_back(std::move(entry));
  }
  body["tools"] = std::move(tools);
  body["tool_choice"] = tool_choice_json(request);
}

// Anthropic's temperature range is [0, 1]; its newer models refuse temperature and top_p together, so
// top_p goes only without a temperature. Seeds and the penalties have no Anthropic counterpart.
void write_sampling(const ChatRequest& request, json& body) {
  const SamplingParams& sampling = request.sampling;
  if (sampling.temperature) body["temperature"] = std::min(*sampling.temperature, 1.0);
  else if (sampling.top_p) body["top_p"] = *sampling.top_p;
  if (sampling.top_k) body["top_k"] = *sampling.top_k;
  if (!request.stop.empty()) body["stop_sequences"] = request.stop;
  if (!request.user.empty()) body["metadata"] = {{"user_id", request.user}};
}

}  // namespace

Result<json> to_anthropic_json(const ChatRequest& request) {
  auto refuse = [](const std::string& why) {
    return Error{422, FailureClass::unsupported, "invalid_request_error", "unsupported_by_route", {},
                 "Anthropic's Messages API cannot take " + why, 0};
  };
  if (request.flavor != ApiFlavor::chat) return refuse("a text completion or embeddings; it answers chat only");
  if (request.n != 1) return refuse("n > 1; it answers one choice");
  if (request.response_format && request.response_format->type != ResponseFormat::Type::text) return refuse("a JSON response_format");
  if (request.sampling.logprobs) return refuse("logprobs");
  json body = json::object();
  try {
    write_conversation(request, body);
  } catch (const Unsupported& unsupported) {
    return refuse(unsupported.why);
  }
  body["max_tokens"] = request.max_tokens.value_or(kAnthropicDefaultMaxTokens);
  if (request.stream) body["stream"] = true;
  write_sampling(request, body);
  write_tools(request, body);
  return body;
}

}  // namespace mg
