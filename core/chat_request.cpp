#include "core/chat_request.h"

#include <algorithm>

namespace mg {

const char* to_string(Role role) {
  switch (role) {
    case Role::system: return "system";
    case Role::developer: return "developer";
    case Role::user: return "user";
    case Role::assistant: return "assistant";
    case Role::tool: return "tool";
  }
  return "user";
}

std::string Message::text() const {
  if (content) return *content;
  std::string joined;
  for (const ContentPart& part : content_parts) {
    if (part.type == "text") joined += part.text;
  }
  return joined;
}

std::vector<std::string> ChatRequest::requested_models() const {
  std::vector<std::string> chain;
  auto add = [&](const std::string& id) {
    if (!id.empty() && std::find(chain.begin(), chain.end(), id) == chain.end()) chain.push_back(id);
  };
  add(model);
  for (const std::string& id : fallback_models) add(id);
  return chain;
}

std::int64_t ChatRequest::estimated_prompt_tokens() const {
  std::size_t characters = prompt.size() + continuation_prefix.size();
  for (const Message& message : messages) {
    characters += message.content ? message.content->size() : 0;
    for (const ContentPart& part : message.content_parts) characters += part.text.size();
    for (const ToolCall& call : message.tool_calls) characters += call.name.size() + call.arguments.size();
    characters += 16;  // role and template tokens, about four
  }
  for (const Tool& tool : tools) characters += tool.name.size() + tool.description.size() + 64;
  return static_cast<std::int64_t>((characters + 3) / 4);
}

}  // namespace mg
