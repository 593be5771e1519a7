// The engine's own view of a chat request: what the chat templates turn into prompt token ids. The
// gateway maps its wire types (OpenAI-style messages and tools) onto these; nothing here knows HTTP or
// any JSON library. JSON that the client sent as text (tool call arguments, tool parameters, tool
// results) stays text: each template decides how to read and re-write it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mg::engine {

enum class ChatRole { system, user, assistant, tool };

constexpr std::string_view role_name(ChatRole role) {
  switch (role) {
    case ChatRole::system: return "system";
    case ChatRole::user: return "user";
    case ChatRole::assistant: return "assistant";
    case ChatRole::tool: return "tool";
  }
  return "unknown";
}

// One function call an assistant made (OpenAI's tool_calls[i]).
struct ChatToolCall {
  std::string id;         // empty when the client gave none
  std::string name;       // function.name
  std::string arguments;  // function.arguments: JSON text, as the client sent it
};

struct ChatMessage {
  ChatRole role = ChatRole::user;
  std::string content;                   // empty for none (JSON null): an assistant that only calls tools
  std::vector<ChatToolCall> tool_calls;  // assistant only
  std::string tool_call_id;              // tool only: the call this message answers; empty for none
  std::string name;                      // tool only: the function that answered; empty for none
  // Assistant only, and only on the last message: the start of the answer, for the model to continue
  // (Mistral's `prefix`, OpenAI-compatible servers' continue_final_message).
  bool prefix = false;
};

// One function the model may call (OpenAI's tools[i] with type "function").
struct ChatTool {
  std::string name;
  std::string description;
  std::string parameters;  // JSON Schema text; empty for none ({})
};

struct ChatConversation {
  std::vector<ChatMessage> messages;
  std::vector<ChatTool> tools;
};

}  // namespace mg::engine
