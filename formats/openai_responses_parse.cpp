// Validating parser: OpenAI Responses request JSON -> ChatRequest, read with simdjson's On-Demand API
// (core/json_ondemand.h) in one pass over the body.
#include <algorithm>
#include <limits>

#include "formats/ondemand_request.h"
#include "formats/openai_responses.h"

namespace mg {
namespace {

using nlohmann::json;
namespace od = ondemand;

constexpr std::int64_t kMaxTokenLimit = 100'000'000;

[[noreturn]] void unsupported(const std::string& path, const std::string& why) {
  throw SchemaViolation{Error::invalid_request("'" + path + "' is not supported: " + why, path, "unsupported_parameter")};
}

Role role_named(const std::string& name, const std::string& path) {
  if (name == "user") return Role::user;
  if (name == "assistant") return Role::assistant;
  if (name == "system") return Role::system;
  if (name == "developer") return Role::developer;
  violate(path, "must be \"user\", \"assistant\", \"system\" or \"developer\"; got \"" + name + "\"");
}

// A message's content parts: input_text and output_text as text, input_image as an image_url part.
void read_message_content(const json& content, const std::string& path, Message& message) {
  if (content.is_string()) {
    message.content = content.get<std::string>();
    return;
  }
  if (!content.is_array()) wrong_type(path, "a string or an array of content parts", content);
  for (std::size_t i = 0; i < content.size(); ++i) {
    ObjectReader part(content[i], index_path(path, i));
    const std::string type = part.required_string("type");
    ContentPart out;
    if (type == "input_text" || type == "output_text") {
      out.type = "text";
      out.text = part.required_string("text");
      out.raw = {{"type", "text"}, {"text", out.text}};
    } else if (type == "input_image") {
      out.type = "image_url";
      json image = {{"url", part.required_string("image_url")}};
      if (auto detail = part.string("detail")) image["detail"] = *detail;
      out.raw = {{"type", "image_url"}, {"image_url", std::move(image)}};
    } else {
      violate(part.path_of("type"), "must be \"input_text\", \"output_text\" or \"input_image\"; got \"" + type + "\"");
    }
    message.content_parts.push_back(std::move(out));
  }
  bool text_only = std::all_of(message.content_parts.begin(), message.content_parts.end(), [](const ContentPart& p) { return p.type == "text"; });
  if (text_only) {  // plain string content, as most routes expect
    message.content = message.text();
    message.content_parts.clear();
  }
}

// The assistant message a function_call item joins: the last one, while nothing came after it.
Message& assistant_for_calls(std::vector<Message>& messages) {
  if (messages.empty() || messages.back().role != Role::assistant) {
    Message assistant;
    assistant.role = Role::assistant;
    od::append_counted(messages, std::move(assistant));
  }
  return messages.back();
}

void append_item(od::Value value, const od::Path& path, std::vector<Message>& messages) {
  json item = od::as_dom(value);  // an item is small and its `type` need not come first
  ObjectReader reader(item, path);
  const std::string type = reader.string("type").value_or("message");
  if (type == "message") {
    Message message;
    message.role = role_named(reader.required_string("role"), reader.path_of("role"));
    read_message_content(reader.require("content"), reader.path_of("content"), message);
    od::append_counted(messages, std::move(message));
  } else if (type == "function_call") {
    ToolCall call;
    call.id = reader.required_string("call_id");
    call.name = reader.required_string("name");
    call.arguments = reader.required_string("arguments");
    assistant_for_calls(messages).tool_calls.push_back(std::move(call));
  } else if (type == "function_call_output") {
    Message output;
    output.role = Role::tool;
    output.tool_call_id = reader.required_string("call_id");
    const json& result = reader.require("output");
    if (result.is_string()) output.content = result.get<std::string>();
    else read_message_content(result, reader.path_of("output"), output);
    od::append_counted(messages, std::move(output));
  } else if (type == "item_reference") {
    unsupported(path, "this gateway stores no responses; send the items themselves");
  } else if (type != "reasoning") {  // a model's earlier reasoning: dropped
    violate(reader.path_of("type"), "must be \"message\", \"function_call\" or \"function_call_output\"; got \"" + type + "\"");
  }
}

Tool parse_tool(od::Value value, const od::Path& path) {
  json fields = od::as_dom(value);
  ObjectReader reader(fields, path);
  const std::string type = reader.required_string("type");
  if (type != "function") unsupported(reader.path_of("type"), "the hosted tool '" + type + "' is OpenAI's own; declare a function instead");
  Tool tool;
  read_function_definition(reader, tool);  // the Responses API's tool is chat's function object, flat
  if (!tool.strict) tool.strict = true;    // unlike chat's, strict unless the client says otherwise
  return tool;
}

ToolChoice parse_tool_choice(od::Value value, const od::Path& path) {
  ToolChoice choice;
  if (value.type() == simdjson::ondemand::json_type::string) {
    const std::string mode = od::string(value, path);
    if (mode == "none") choice.mode = ToolChoice::Mode::none;
    else if (mode == "auto") choice.mode = ToolChoice::Mode::automatic;
    else if (mode == "required") choice.mode = ToolChoice::Mode::required;
    else violate(path, "must be \"none\", \"auto\", \"required\" or {\"type\":\"function\",\"name\"}; got \"" + mode + "\"");
    return choice;
  }
  json fields = od::as_dom(value);
  ObjectReader reader(fields, path);
  const std::string type = reader.required_string("type");
  if (type != "function") unsupported(reader.path_of("type"), "tool_choice type '" + type + "'");
  choice.mode = ToolChoice::Mode::function;
  choice.function_name = reader.required_string("name");
  return choice;
}

ResponseFormat parse_text_format(od::Value value, const od::Path& path) {
  json fields = od::as_dom(value);
  ObjectReader text(fields, path);
  ResponseFormat format;
  const json* spec = text.find("format");
  if (!spec) return format;
  ObjectReader reader(*spec, text.path_of("format"));
  const std::string type = reader.required_string("type");
  if (type == "json_object") {
    format.type = ResponseFormat::Type::json_object;
  } else if (type == "json_schema") {
    format.type = ResponseFormat::Type::json_schema;
    format.schema_name = reader.required_string("name");
    format.schema = reader.require("schema");
    if (!format.schema.is_object()) wrong_type(reader.path_of("schema"), "a JSON Schema object", format.schema);
    format.strict = reader.boolean("strict");
  } else if (type != "text") {
    violate(reader.path_of("type"), "must be \"text\", \"json_object\" or \"json_schema\"; got \"" + type + "\"");
  }
  return format;
}

class RequestReader {
 public:
  void read(od::Value root) {
    od::for_each_field(root, od::Path(), [&](std::string_view key, od::Value value, const od::Path& path) { field(key, value, path); });
    if (request_.model.empty()) violate("model", "is required");
    if (!has_input_) violate("input", "is required");
    if (!instructions_.empty()) {
      Message system;
      system.role = Role::system;
      system.content = std::move(instructions_);
      request_.messages.insert(request_.messages.begin(), std::move(system));
    }
    if (request_.messages.empty()) violate("input", "must hold at least one item");
    if (!extensions_.empty()) read_gateway_extensions(extensions_, request_);
    check_tool_choice(request_.tool_choice, request_.tools, "tool_choice.name");
  }

  ChatRequest take() { return std::move(request_); }

 private:
  void field(std::string_view key, od::Value value, const od::Path& path) {
    if (od::is_null(value)) return;
    if (key == "model") request_.model = od::string(value, path);
    else if (key == "input") read_input(value, path);
    else if (key == "instructions") instructions_ = od::string(value, path);
    else if (key == "max_output_tokens") request_.max_tokens = static_cast<int>(od::integer(value, path, 1, kMaxTokenLimit));
    else if (key == "stream") request_.stream = od::boolean(value, path);
    else if (key == "temperature") request_.sampling.temperature = od::number(value, path, 0, 2);
    else if (key == "top_p") request_.sampling.top_p = od::number(value, path, 0, 1);
    else if (key == "tools") od::for_each_element(value, path, [&](od::Value tool, const od::Path& at) { od::append_counted(request_.tools, parse_tool(tool, at)); });
    else if (key == "tool_choice") request_.tool_choice = parse_tool_choice(value, path);
    else if (key == "parallel_tool_calls") request_.parallel_tool_calls = od::boolean(value, path);
    else if (key == "text") request_.response_format = parse_text_format(value, path);
    else if (key == "user" || key == "safety_identifier") request_.user = od::string(value, path);
    else if (key == "store") read_store(value, path);
    else if (key == "previous_response_id" || key == "conversation") unsupported(path, "this gateway stores no responses; send the whole conversation in 'input'");
    else if (key == "background") read_background(value, path);
    else if (key == "prompt") unsupported(path, "stored prompt templates live with OpenAI; send 'instructions' and 'input'");
    else if (is_gateway_extension(key)) od::set_member(extensions_, key, value);
    else od::validate(value);  // metadata, reasoning, include, truncation, service_tier...: checked, not passed on
  }

  void read_input(od::Value value, const od::Path& path) {
    has_input_ = true;
    if (value.type() == simdjson::ondemand::json_type::string) {
      Message user;
      user.role = Role::user;
      user.content = od::string(value, path);
      od::append_counted(request_.messages, std::move(user));
      return;
    }
    od::for_each_element(value, path, [&](od::Value item, const od::Path& at) { append_item(item, at, request_.messages); });
  }

  void read_store(od::Value value, const od::Path& path) {
    if (od::boolean(value, path)) unsupported(path, "this gateway stores no responses; send \"store\": false or leave it out");
  }

  void read_background(od::Value value, const od::Path& path) {
    if (od::boolean(value, path)) unsupported(path, "background responses need stored state; leave 'background' out");
  }

  ChatRequest request_;
  std::string instructions_;
  json extensions_ = json::object();
  bool has_input_ = false;
};

}  // namespace

Result<ChatRequest> parse_openai_responses(std::string_view body, const JsonLimits& limits, std::size_t* parsed_bytes) {
  RequestReader reader;
  return read_ondemand_request(body, limits, parsed_bytes, reader);
}

}  // namespace mg
