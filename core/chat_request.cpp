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

namespace {

std::int64_t tokens_for_characters(std::size_t characters) { return static_cast<std::int64_t>((characters + 3) / 4); }

// Each input's estimated tokens: its token count, or about four characters a token.
template <class Each>
void for_each_input_estimate(const EmbeddingInput& input, Each each) {
  for (const std::string& text : input.texts) each(tokens_for_characters(text.size()));
  for (const auto& tokens : input.token_arrays) each(static_cast<std::int64_t>(tokens.size()));
}

}  // namespace

std::int64_t ChatRequest::estimated_prompt_tokens() const {
  if (flavor == ApiFlavor::embedding) {
    std::int64_t total = 0;
    for_each_input_estimate(embedding_input, [&](std::int64_t tokens) { total += tokens; });
    return total;
  }
  std::size_t characters = prompt.size() + continuation_prefix.size();
  for (const Message& message : messages) {
    characters += message.content ? message.content->size() : 0;
    for (const ContentPart& part : message.content_parts) characters += part.text.size();
    for (const ToolCall& call : message.tool_calls) characters += call.name.size() + call.arguments.size();
    characters += 16;  // role and template tokens, about four
  }
  for (const Tool& tool : tools) characters += tool.name.size() + tool.description.size() + 64;
  return tokens_for_characters(characters);
}

std::int64_t ChatRequest::estimated_context_need() const {
  if (flavor != ApiFlavor::embedding) return estimated_prompt_tokens() + max_tokens.value_or(0);
  std::int64_t longest = 0;
  for_each_input_estimate(embedding_input, [&](std::int64_t tokens) { longest = std::max(longest, tokens); });
  return longest;
}

}  // namespace mg
