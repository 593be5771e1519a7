#include "providers/chat_request.h"

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

}  // namespace mg
