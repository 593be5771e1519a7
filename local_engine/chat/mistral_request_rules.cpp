// mistral-common's request checks (protocol/instruct/validator.py, serving mode) and normalization
// (protocol/instruct/normalize.py) for tokenizer versions 1 to 3, restated on the engine's chat types.
#include "local_engine/chat/mistral_request_rules.h"

#include <span>
#include <stdexcept>
#include <string_view>

namespace mg::engine {
namespace {

std::string describe(std::size_t index, const ChatMessage& message) {
  return "message " + std::to_string(index) + " (" + std::string(role_name(message.role)) + ")";
}

[[noreturn]] void refuse(const std::string& what) { throw std::invalid_argument(what); }

bool is_alphanumeric(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// mistral-common checks names with Python's re.match("^[...]{n,m}$"), whose `$` also matches before a
// final "\n": such a name passes there, and so it does here.
std::string_view without_final_newline(std::string_view text) {
  if (text.ends_with('\n')) text.remove_suffix(1);
  return text;
}

// [a-zA-Z0-9_-]{1,64}
bool is_function_name(std::string_view name) {
  name = without_final_newline(name);
  if (name.empty() || name.size() > 64) return false;
  for (const char c : name) {
    if (!is_alphanumeric(c) && c != '_' && c != '-') return false;
  }
  return true;
}

bool is_v3_call_id(std::string_view id) { return is_mistral_tool_call_id(without_final_newline(id)); }

void check_function_name(std::string_view name, const std::string& owner) {
  if (!is_function_name(name)) {
    refuse(owner + ": function name '" + std::string(name) +
           "' must be 1 to 64 letters, digits, underscores or dashes");
  }
}

void check_message_count(const std::vector<ChatMessage>& messages) {
  if (messages.empty()) refuse("the conversation has no messages; expected at least one");
  const ChatRole only = messages.front().role;
  if (messages.size() == 1 && only != ChatRole::user && only != ChatRole::system) {
    refuse(describe(0, messages.front()) + " is the conversation's only message; expected a user or system message");
  }
}

void check_last_message(const std::vector<ChatMessage>& messages) {
  const ChatMessage& last = messages.back();
  if (messages.size() > 1 && last.role == ChatRole::assistant && !last.prefix) {
    refuse(describe(messages.size() - 1, last) +
           ": the last message is an assistant message without `prefix`; expected the last message from "
           "the user or a tool, or an assistant prefix for the model to continue");
  }
}

bool may_follow(ChatRole previous, ChatRole current) {
  switch (previous) {
    case ChatRole::system:
    case ChatRole::user: return current != ChatRole::tool;
    case ChatRole::assistant:
    case ChatRole::tool: return current != ChatRole::system;
  }
  return false;
}

void check_role_order(const std::vector<ChatMessage>& messages) {
  for (std::size_t i = 1; i < messages.size(); ++i) {
    if (!may_follow(messages[i - 1].role, messages[i].role)) {
      refuse(describe(i, messages[i]) + " follows " + describe(i - 1, messages[i - 1]) +
             "; expected a tool message only after an assistant or tool message, and a system message "
             "never after one");
    }
  }
}

// One tool message per call of the assistant message before them. Like mistral-common, the first
// message's calls are not counted.
void check_tool_results_follow_calls(const std::vector<ChatMessage>& messages) {
  std::size_t caller = 0;   // the last assistant message seen
  std::size_t calls = 0;    // its tool calls
  std::size_t answers = 0;  // tool messages since it
  const auto check_all_answered = [&](const std::string& where) {
    if (caller == 0 && answers > 0) {
      refuse(where + ": " + std::to_string(answers) + " tool messages answer no counted tool call (mistral-common " +
             "does not count the calls of the first message); expected them after an assistant's calls");
    }
    if (answers != calls) {
      refuse(where + ": " + describe(caller, messages[caller]) + " made " + std::to_string(calls) +
             " tool calls, answered by " + std::to_string(answers) +
             " tool messages; expected one tool message per call");
    }
  };
  for (std::size_t i = 1; i < messages.size(); ++i) {
    if (messages[i].role == ChatRole::tool) {
      ++answers;
    } else if (messages[i].role == ChatRole::assistant) {
      check_all_answered("before " + describe(i, messages[i]));
      caller = i;
      calls = messages[i].tool_calls.size();
      answers = 0;
    }
  }
  check_all_answered("at the end of the conversation");
}

void check_tool_call(const std::string& owner, const ChatToolCall& call, MistralTemplateVersion version) {
  check_function_name(call.name, owner + ", call '" + call.name + "'");
  if (version != MistralTemplateVersion::v3) return;
  // mistral-common's missing id is the string "null", which serving mode refuses in v3.
  if (call.id.empty() || call.id == "null") refuse(owner + ": tool call '" + call.name + "' has no id; v3 needs one");
  if (!is_v3_call_id(call.id)) {
    refuse(owner + ": tool call id '" + call.id + "' must be 9 letters or digits in v3");
  }
}

void check_assistant_message(std::size_t index, const ChatMessage& message, bool is_last,
                             MistralTemplateVersion version) {
  const std::string owner = describe(index, message);
  const bool has_content = !message.content.empty();
  const bool has_calls = !message.tool_calls.empty();
  if (has_content == has_calls) {
    refuse(owner + (has_content ? " has both content and tool calls" : " has neither content nor tool calls") +
           "; expected exactly one of them");
  }
  if (message.prefix && !is_last) refuse(owner + " has `prefix` but is not the last message");
  if (has_calls && version == MistralTemplateVersion::v1) {
    refuse(owner + " makes tool calls; the v1 template cannot express them");
  }
  for (const ChatToolCall& call : message.tool_calls) check_tool_call(owner, call, version);
}

void check_tool_message(std::size_t index, const ChatMessage& message, MistralTemplateVersion version) {
  const std::string owner = describe(index, message);
  if (version == MistralTemplateVersion::v1) refuse(owner + ": the v1 template cannot express tool results");
  if (!message.name.empty()) check_function_name(message.name, owner);
  if (version != MistralTemplateVersion::v3) return;
  if (message.tool_call_id.empty()) refuse(owner + " has no tool_call_id; v3 needs one");
  if (!is_v3_call_id(message.tool_call_id)) {
    refuse(owner + ": tool_call_id '" + message.tool_call_id + "' must be 9 letters or digits in v3");
  }
}

void check_message_contents(const std::vector<ChatMessage>& messages, MistralTemplateVersion version) {
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& message = messages[i];
    if (message.role == ChatRole::assistant) check_assistant_message(i, message, i + 1 == messages.size(), version);
    if (message.role == ChatRole::tool) check_tool_message(i, message, version);
    if (message.role != ChatRole::assistant && message.prefix) {
      refuse(describe(i, message) + " has `prefix`; only an assistant message may");
    }
  }
}

void check_tools(const std::vector<ChatTool>& tools, MistralTemplateVersion version) {
  if (!tools.empty() && version == MistralTemplateVersion::v1) {
    refuse("the request lists " + std::to_string(tools.size()) + " tools; the v1 template cannot express tools");
  }
  for (std::size_t i = 0; i < tools.size(); ++i) check_function_name(tools[i].name, "tool " + std::to_string(i));
}

// A user or assistant run merged as mistral-common's normalizer does.
ChatMessage merge_run(std::span<const ChatMessage> run) {
  ChatMessage merged;
  merged.role = run.front().role;
  for (const ChatMessage& message : run) {
    if (!message.content.empty()) {
      if (!merged.content.empty()) merged.content += "\n\n";
      merged.content += message.content;
    }
    merged.tool_calls.insert(merged.tool_calls.end(), message.tool_calls.begin(), message.tool_calls.end());
    merged.prefix = merged.prefix || message.prefix;
  }
  return merged;
}

void append_normalized_run(std::span<const ChatMessage> run, std::vector<ChatMessage>& out) {
  switch (run.front().role) {
    case ChatRole::system: return;  // gathered into the system prompt
    case ChatRole::tool: out.insert(out.end(), run.begin(), run.end()); return;
    case ChatRole::user:
    case ChatRole::assistant: out.push_back(merge_run(run)); return;
  }
}

std::optional<std::string> joined_system_prompt(const std::vector<ChatMessage>& messages) {
  std::optional<std::string> prompt;
  for (const ChatMessage& message : messages) {
    if (message.role != ChatRole::system || message.content.empty()) continue;
    prompt = prompt ? *prompt + "\n\n" + message.content : message.content;
  }
  return prompt;
}

}  // namespace

bool is_mistral_tool_call_id(std::string_view id) {
  if (id.size() != 9) return false;
  for (const char c : id) {
    if (!is_alphanumeric(c)) return false;
  }
  return true;
}

void validate_mistral_request(const ChatConversation& conversation, MistralTemplateVersion version) {
  const std::vector<ChatMessage>& messages = conversation.messages;
  check_message_count(messages);
  check_last_message(messages);
  check_role_order(messages);
  check_tool_results_follow_calls(messages);
  check_message_contents(messages, version);
  check_tools(conversation.tools, version);
}

MistralInstructRequest normalize_mistral_request(const ChatConversation& conversation) {
  const std::span<const ChatMessage> messages = conversation.messages;
  MistralInstructRequest request;
  request.system_prompt = joined_system_prompt(conversation.messages);
  for (std::size_t start = 0, end = 0; start < messages.size(); start = end) {
    end = start + 1;
    while (end < messages.size() && messages[end].role == messages[start].role) ++end;
    append_normalized_run(messages.subspan(start, end - start), request.messages);
  }
  if (request.messages.empty() || request.messages.front().role != ChatRole::user) {
    request.messages.insert(request.messages.begin(), ChatMessage{});  // an empty user message
  }
  return request;
}

}  // namespace mg::engine
