// Validating parser: Anthropic Messages request JSON -> ChatRequest, read with simdjson's On-Demand API
// (core/json_ondemand.h) in one pass over the body.
#include <algorithm>
#include <limits>

#include "formats/anthropic_messages.h"
#include "formats/ondemand_request.h"

namespace mg {
namespace {

using nlohmann::json;
namespace od = ondemand;

constexpr std::int64_t kMaxTokenLimit = 100'000'000;
constexpr std::size_t kMaxStopSequences = 16;

[[noreturn]] void unsupported(const std::string& path, const std::string& what) {
  throw SchemaViolation{Error::invalid_request("'" + path + "' " + what + " is not supported by this gateway", path, "unsupported_value")};
}

struct Block {
  std::string type;
  std::string text;          // text, tool_result (its text)
  std::string id;            // tool_use
  std::string name;          // tool_use
  json input;                // tool_use
  std::string tool_use_id;   // tool_result
  bool is_error = false;     // tool_result
  std::vector<ContentPart> images;  // image; a tool_result's images
};

// An image block as the OpenAI content part every chat route understands; a route that cannot take
// images refuses the request by name.
ContentPart image_part(ObjectReader& block) {
  ObjectReader source(block.require("source"), block.path_of("source"));
  const std::string type = source.required_string("type");
  std::string url;
  if (type == "base64") url = "data:" + source.required_string("media_type") + ";base64," + source.required_string("data");
  else if (type == "url") url = source.required_string("url");
  else violate(source.path_of("type"), "must be \"base64\" or \"url\"; got \"" + type + "\"");
  ContentPart part;
  part.type = "image_url";
  part.raw = {{"type", "image_url"}, {"image_url", {{"url", std::move(url)}}}};
  return part;
}

// tool_result content: a string, or text blocks (joined) and images. A chat route's tool message holds
// text only, so the images travel in the user turn that follows the results.
void read_tool_result_content(const json& content, const std::string& path, Block& block) {
  if (content.is_string()) {
    block.text = content.get<std::string>();
    return;
  }
  if (!content.is_array()) wrong_type(path, "a string or an array of text and image blocks", content);
  for (std::size_t i = 0; i < content.size(); ++i) {
    ObjectReader element(content[i], index_path(path, i));
    std::string type = element.required_string("type");
    if (type == "image") {
      block.images.push_back(image_part(element));
      continue;
    }
    if (type != "text") unsupported(element.path_of("type"), "'" + type + "' inside a tool_result");
    if (!block.text.empty()) block.text += '\n';
    block.text += element.required_string("text");
  }
}

// A content block is small and its `type`, which decides how the rest reads, need not come first: it
// is read whole, then typed.
Block parse_block(od::Value value, const od::Path& path) {
  json fields = od::as_dom(value);
  ObjectReader reader(fields, path);
  Block block;
  block.type = reader.required_string("type");
  if (block.type == "text") {
    block.text = reader.required_string("text");
  } else if (block.type == "tool_use") {
    block.id = reader.required_string("id");
    block.name = reader.required_string("name");
    block.input = reader.require("input");
    if (!block.input.is_object()) wrong_type(reader.path_of("input"), "an object", block.input);
  } else if (block.type == "tool_result") {
    block.tool_use_id = reader.required_string("tool_use_id");
    block.is_error = reader.boolean("is_error").value_or(false);
    if (const json* content = reader.find("content")) read_tool_result_content(*content, reader.path_of("content"), block);
  } else if (block.type == "image") {
    block.images.push_back(image_part(reader));
  } else if (block.type != "thinking" && block.type != "redacted_thinking") {  // the model's own earlier reasoning: dropped
    unsupported(reader.path_of("type"), "'" + block.type + "'");
  }
  return block;
}

// One Anthropic message becomes one or more of ours: a user turn's tool_result blocks become tool
// messages (in order, before the rest of the turn), an assistant's tool_use blocks its tool calls.
void append_message(od::Value value, const od::Path& path, std::vector<Message>& out) {
  std::string role;
  std::optional<std::string> text_content;  // content sent as a string, the common case: no blocks
  std::vector<Block> blocks;
  bool has_content = false;
  od::for_each_field(value, path, [&](std::string_view key, od::Value field, const od::Path& field_path) {
    if (key == "role") {
      role = od::string(field, field_path);
    } else if (key == "content") {
      has_content = true;
      if (field.type() == simdjson::ondemand::json_type::string) {
        text_content = od::string(field, field_path);
      } else {
        od::for_each_element(field, field_path, [&](od::Value element, const od::Path& element_path) {
          od::append_counted(blocks, parse_block(element, element_path));
        });
      }
    } else {
      od::validate(field);  // nothing else on a message means anything to a route
    }
  });
  if (role != "user" && role != "assistant") violate(path + ".role", "must be \"user\" or \"assistant\"; got \"" + role + "\"");
  if (!has_content) violate(path + ".content", "is required");
  Message message;
  message.role = role == "user" ? Role::user : Role::assistant;
  if (text_content) {
    message.content = std::move(text_content);
    od::append_counted(out, std::move(message));
    return;
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    Block& block = blocks[i];
    auto block_path = [&] { return index_path(path + ".content", i); };  // for an error only
    if (block.type == "tool_result") {
      if (message.role != Role::user) violate(block_path(), "a tool_result block belongs in a user message");
      Message result;
      result.role = Role::tool;
      result.tool_call_id = std::move(block.tool_use_id);
      result.content = std::move(block.text);
      result.tool_error = block.is_error;
      od::append_counted(out, std::move(result));
      for (ContentPart& image : block.images) message.content_parts.push_back(std::move(image));
    } else if (block.type == "tool_use") {
      if (message.role != Role::assistant) violate(block_path(), "a tool_use block belongs in an assistant message");
      message.tool_calls.push_back(ToolCall{std::move(block.id), "function", std::move(block.name), block.input.dump()});
    } else if (block.type == "text") {
      ContentPart part;
      part.type = "text";
      part.text = block.text;
      part.raw = {{"type", "text"}, {"text", std::move(block.text)}};
      message.content_parts.push_back(std::move(part));
    } else {
      for (ContentPart& image : block.images) message.content_parts.push_back(std::move(image));
    }
  }
  // A text-only turn travels as plain string content, as most routes expect.
  bool text_only = std::all_of(message.content_parts.begin(), message.content_parts.end(), [](const ContentPart& part) { return part.type == "text"; });
  if (text_only && !message.content_parts.empty()) {
    message.content = message.text();
    message.content_parts.clear();
  }
  if (message.content || !message.content_parts.empty() || !message.tool_calls.empty()) od::append_counted(out, std::move(message));
}

std::string parse_system(od::Value value, const od::Path& path) {
  if (value.type() == simdjson::ondemand::json_type::string) return od::string(value, path);
  std::string text;
  od::for_each_element(value, path, [&](od::Value element, const od::Path& element_path) {
    Block block = parse_block(element, element_path);
    if (block.type != "text") violate(element_path + ".type", "must be \"text\" in the system prompt; got \"" + block.type + "\"");
    if (!text.empty()) text += '\n';
    text += block.text;
  });
  return text;
}

Tool parse_tool(od::Value value, const od::Path& path) {
  Tool tool;
  bool has_schema = false;
  od::for_each_field(value, path, [&](std::string_view key, od::Value field, const od::Path& field_path) {
    if (key == "name") {
      tool.name = od::string(field, field_path);
    } else if (key == "description") {
      tool.description = od::string(field, field_path);
    } else if (key == "input_schema") {
      tool.parameters = od::as_dom(field);
      if (!tool.parameters.is_object()) violate(field_path, "must be a JSON Schema object");
      has_schema = true;
    } else if (key == "type") {
      std::string type = od::string(field, field_path);
      if (type != "custom") unsupported(field_path, "server tool '" + type + "'");
    } else if (key == "strict") {
      tool.strict = od::boolean(field, field_path);
    } else {
      od::validate(field);  // cache_control and the like: checked, not passed on
    }
  });
  check_function_name(tool.name, path + ".name");
  if (!has_schema) violate(path + ".input_schema", "is required");
  return tool;
}

ToolChoice parse_tool_choice(od::Value value, const od::Path& path, bool& parallel_disabled) {
  ToolChoice choice;
  std::string type;
  od::for_each_field(value, path, [&](std::string_view key, od::Value field, const od::Path& field_path) {
    if (key == "type") type = od::string(field, field_path);
    else if (key == "name") choice.function_name = od::string(field, field_path);
    else if (key == "disable_parallel_tool_use") parallel_disabled = od::boolean(field, field_path);
    else od::validate(field);
  });
  if (type == "auto") choice.mode = ToolChoice::Mode::automatic;
  else if (type == "any") choice.mode = ToolChoice::Mode::required;
  else if (type == "none") choice.mode = ToolChoice::Mode::none;
  else if (type == "tool") choice.mode = ToolChoice::Mode::function;
  else violate(path + ".type", "must be \"auto\", \"any\", \"tool\" or \"none\"; got \"" + type + "\"");
  if (choice.mode == ToolChoice::Mode::function && choice.function_name.empty()) violate(path + ".name", "is required when type is \"tool\"");
  return choice;
}

void check_request(ChatRequest& request, AnthropicBody kind, bool has_messages, bool has_max_tokens) {
  if (request.model.empty()) violate("model", "is required");
  if (!has_messages) violate("messages", "is required");
  if (kind == AnthropicBody::message && !has_max_tokens) violate("max_tokens", "is required");
  if (request.messages.empty() || (request.messages.size() == 1 && request.messages[0].role == Role::system)) {
    violate("messages", "must contain at least one message");
  }
  check_tool_choice(request.tool_choice, request.tools, "tool_choice.name");
}

class RequestReader {
 public:
  explicit RequestReader(AnthropicBody kind) : kind_(kind) {}

  void read(od::Value root) {
    od::for_each_field(root, od::Path(), [&](std::string_view key, od::Value value, const od::Path& path) { field(key, value, path); });
    if (!system_.empty()) {
      Message system;
      system.role = Role::system;
      system.content = std::move(system_);
      request_.messages.insert(request_.messages.begin(), std::move(system));
    }
    if (!extensions_.empty()) read_gateway_extensions(extensions_, request_);
    check_request(request_, kind_, has_messages_, request_.max_tokens.has_value());
    if (parallel_disabled_) request_.parallel_tool_calls = false;
  }

  ChatRequest take() { return std::move(request_); }

 private:
  void field(std::string_view key, od::Value value, const od::Path& path) {
    if (od::is_null(value)) return;
    if (key == "model") request_.model = od::string(value, path);
    else if (key == "messages") read_messages(value, path);
    else if (key == "system") system_ = parse_system(value, path);
    else if (key == "max_tokens") request_.max_tokens = static_cast<int>(od::integer(value, path, 1, kMaxTokenLimit));
    else if (key == "stop_sequences") read_stop_sequences(value, path);
    else if (key == "stream") request_.stream = od::boolean(value, path);
    else if (key == "temperature") request_.sampling.temperature = od::number(value, path, 0, 1);
    else if (key == "top_p") request_.sampling.top_p = od::number(value, path, 0, 1);
    else if (key == "top_k") request_.sampling.top_k = static_cast<int>(od::integer(value, path, 0, std::numeric_limits<int>::max()));
    else if (key == "metadata") read_metadata(value, path);
    else if (key == "tools") od::for_each_element(value, path, [&](od::Value tool, const od::Path& at) { od::append_counted(request_.tools, parse_tool(tool, at)); });
    else if (key == "tool_choice") request_.tool_choice = parse_tool_choice(value, path, parallel_disabled_);
    else if (is_gateway_extension(key)) od::set_member(extensions_, key, value);
    else if (key == "mcp_servers" || key == "container") unsupported(path, "");
    else od::validate(value);  // thinking, service_tier, context_management...: checked, not passed on
  }

  void read_messages(od::Value value, const od::Path& path) {
    has_messages_ = true;
    od::for_each_element(value, path, [&](od::Value message, const od::Path& at) { append_message(message, at, request_.messages); });
  }

  void read_stop_sequences(od::Value value, const od::Path& path) {
    od::for_each_element(value, path, [&](od::Value element, const od::Path& at) {
      std::string stop = od::string(element, at);
      if (stop.empty()) violate(at, "must not be empty");
      request_.stop.push_back(std::move(stop));
    });
    if (request_.stop.size() > kMaxStopSequences) violate(path, "may hold at most " + std::to_string(kMaxStopSequences) + " sequences");
  }

  void read_metadata(od::Value value, const od::Path& path) {
    od::for_each_field(value, path, [&](std::string_view key, od::Value field, const od::Path& field_path) {
      if (key == "user_id" && !od::is_null(field)) request_.user = od::string(field, field_path);
      else od::validate(field);
    });
  }

  AnthropicBody kind_;
  ChatRequest request_;
  std::string system_;
  json extensions_ = json::object();
  bool has_messages_ = false;
  bool parallel_disabled_ = false;
};

}  // namespace

Result<ChatRequest> parse_anthropic_messages(std::string_view body, AnthropicBody kind, const JsonLimits& limits, std::size_t* parsed_bytes) {
  RequestReader reader(kind);
  return read_ondemand_request(body, limits, parsed_bytes, reader);
}

}  // namespace mg
