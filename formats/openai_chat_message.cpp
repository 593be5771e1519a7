// One message of an OpenAI chat request: role, content (a string, the common case, costs no DOM),
// name, tool calls and tool_call_id; any other member is passed on to the upstream as sent.
#include "formats/openai_chat_message.h"

#include <algorithm>
#include <array>

#include "core/json_object_reader.h"

namespace mg {
namespace {

using nlohmann::json;
using simdjson::ondemand::json_type;
namespace od = ondemand;

constexpr std::array kRoles{"system", "developer", "user", "assistant", "tool"};

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

// Content as a string, the common case, costs no DOM; content parts are small and read whole.
void read_content(od::Value value, const od::Path& path, Message& message) {
  message.content.reset();
  message.content_parts.clear();
  if (od::is_null(value)) return;
  json_type type = value.type();
  if (type == json_type::string) {
    message.content = od::string(value, path);
  } else if (type == json_type::array) {
    message.content_parts = parse_content_parts(od::as_dom(value), path);
  } else {
    od::wrong_type(path, "a string, an array of content parts or null", value);
  }
}

std::optional<std::string> nullable_string(od::Value value, const od::Path& path) {
  if (od::is_null(value)) return std::nullopt;
  return od::string(value, path);
}

// What a message's members said, read in the client's order; checked together once all are read.
struct MessageFields {
  std::optional<std::string> role;
  json tool_calls;    // null when absent
  json tool_call_id;  // read only for a tool message
};

void check_message(const MessageFields& fields, const od::Path& path, Message& message) {
  if (!fields.role) violate(path + ".role", "is required");
  if (std::find(kRoles.begin(), kRoles.end(), *fields.role) == kRoles.end()) {
    violate_not_one_of(path + ".role", *fields.role, {kRoles.begin(), kRoles.end()});
  }
  message.role = parse_role(*fields.role);
  if (!fields.tool_calls.is_null()) {
    const std::string calls_path = path + ".tool_calls";
    if (message.role != Role::assistant) violate(calls_path, "is only allowed on assistant messages");
    if (!fields.tool_calls.is_array()) wrong_type(calls_path, "an array", fields.tool_calls);
    for (std::size_t i = 0; i < fields.tool_calls.size(); ++i) {
      message.tool_calls.push_back(parse_tool_call(fields.tool_calls[i], index_path(calls_path, i)));
    }
  }
  if (message.role == Role::tool) {
    if (fields.tool_call_id.is_null()) violate(path + ".tool_call_id", "is required");
    if (!fields.tool_call_id.is_string()) wrong_type(path + ".tool_call_id", "a string", fields.tool_call_id);
    message.tool_call_id = fields.tool_call_id.get<std::string>();
  }
  bool has_content = message.content.has_value() || !message.content_parts.empty();
  if (!has_content && !(message.role == Role::assistant && !message.tool_calls.empty())) {
    violate(path + ".content", "is required for a " + std::string(to_string(message.role)) + " message");
  }
}

}  // namespace

Message read_chat_message(od::Value value, const od::Path& path) {
  Message message;
  od::charge(ondemand::HeapCost::dom_object());  // Message::extra's empty object
  MessageFields fields;
  od::for_each_field(value, path, [&](std::string_view key, od::Value field, const od::Path& field_path) {
    if (key == "content") read_content(field, field_path, message);
    else if (key == "role") fields.role = nullable_string(field, field_path);
    else if (key == "name") message.name = nullable_string(field, field_path).value_or("");
    else if (key == "tool_calls") fields.tool_calls = od::as_dom(field);
    else if (key == "tool_call_id") fields.tool_call_id = od::as_dom(field);
    else od::set_member(message.extra, key, field);  // "refusal", "prefix"...: passed on
  });
  check_message(fields, path, message);
  return message;
}

}  // namespace mg
