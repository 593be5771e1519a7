// mistral-common's InstructTokenizerV1/V2/V3.encode_instruct (tokens/tokenizers/instruct.py), restated:
// the request is checked and normalized (mistral_request_rules.h), then each message appends its
// segments. Text segments go through encode(text) one by one, each with SentencePiece's dummy-prefix
// space in front, as mistral-common's SentencePieceTokenizer.encode(s, bos=False, eos=False) does.
#include "local_engine/chat/mistral_chat_template.h"

#include <stdexcept>
#include <string>

#include "local_engine/chat/mistral_request_rules.h"
#include "local_engine/chat/python_json.h"

namespace mg::engine {
namespace {

// mistral-common's SpecialTokens, as the v2/v3 vocabulary holds them (ids 3..9 there).
struct ControlIds {
  std::int32_t begin_inst = -1;             // [INST]
  std::int32_t end_inst = -1;               // [/INST]
  std::int32_t tool_calls = -1;             // [TOOL_CALLS]
  std::int32_t begin_available_tools = -1;  // [AVAILABLE_TOOLS]
  std::int32_t end_available_tools = -1;    // [/AVAILABLE_TOOLS]
  std::int32_t begin_tool_results = -1;     // [TOOL_RESULTS]
  std::int32_t end_tool_results = -1;       // [/TOOL_RESULTS]
};

bool has_control_piece(const SentencePieceTokenizer& tokenizer, std::string_view piece) {
  const std::int32_t id = tokenizer.find(piece);
  return id >= 0 && tokenizer.is_control(id);
}

std::int32_t control_id(const SentencePieceTokenizer& tokenizer, std::string_view piece) {
  if (!has_control_piece(tokenizer, piece)) {
    throw std::invalid_argument("the vocabulary has no control piece " + std::string(piece) +
                                "; the v2 and v3 templates need [INST], [/INST], [TOOL_CALLS], [AVAILABLE_TOOLS], "
                                "[/AVAILABLE_TOOLS], [TOOL_RESULTS] and [/TOOL_RESULTS] as control pieces");
  }
  return tokenizer.find(piece);
}

ControlIds find_control_ids(const SentencePieceTokenizer& tokenizer) {
  const auto id = [&tokenizer](std::string_view piece) { return control_id(tokenizer, piece); };
  return ControlIds{
      id("[INST]"),         id("[/INST]"),        id("[TOOL_CALLS]"), id("[AVAILABLE_TOOLS]"), id("[/AVAILABLE_TOOLS]"),
      id("[TOOL_RESULTS]"), id("[/TOOL_RESULTS]")};
}

// mistral-common's _parse_json_content after the normalizer's _normalize_json_content: empty text is
// the object {}, JSON text is its value, anything else stays a string.
PythonJsonValue json_or_string(const std::string& text) {
  if (text.empty()) return PythonJsonValue::object({});
  std::optional<PythonJsonValue> value = parse_python_json(text);
  return value ? std::move(*value) : PythonJsonValue::string(text);
}

PythonJsonValue tool_parameters(const ChatTool& tool) {
  if (tool.parameters.empty()) return PythonJsonValue::object({});
  std::optional<PythonJsonValue> parameters = parse_python_json(tool.parameters);
  if (!parameters || !parameters->is_object()) {
    throw std::invalid_argument("tool '" + tool.name + "': parameters must be a JSON object; got '" +
                                tool.parameters.substr(0, 80) + "'");
  }
  return std::move(*parameters);
}

// Tool.model_dump() without `strict`: {"type": "function", "function": {"name", "description", "parameters"}}.
PythonJsonValue tool_definition(const ChatTool& tool) {
  PythonJsonValue function = PythonJsonValue::object({{"name", PythonJsonValue::string(tool.name)},
                                                      {"description", PythonJsonValue::string(tool.description)},
                                                      {"parameters", tool_parameters(tool)}});
  return PythonJsonValue::object({{"type", PythonJsonValue::string("function")}, {"function", std::move(function)}});
}

// The Python str.rstrip(" ") mistral-common applies to v2/v3 assistant text: spaces only, not newlines.
std::string_view without_trailing_spaces(std::string_view text) {
  const std::size_t end = text.find_last_not_of(' ');
  return end == std::string_view::npos ? std::string_view{} : text.substr(0, end + 1);
}

class MistralPromptBuilder {
 public:
  MistralPromptBuilder(const SentencePieceTokenizer& tokenizer, MistralTemplateVersion version,
                       const ChatConversation& conversation)
      : tokenizer_(tokenizer), version_(version), conversation_(conversation) {
    if (version_ != MistralTemplateVersion::v1) controls_ = find_control_ids(tokenizer_);
  }

  std::vector<std::int32_t> build() {
    const MistralInstructRequest request = normalize_mistral_request(conversation_);
    system_prompt_ = request.system_prompt;
    const std::size_t first_user = first_index_of_user(request.messages);
    const std::size_t last_user = last_index_of_user(request.messages);
    ids_ = {tokenizer_.bos_id()};
    for (std::size_t i = 0; i < request.messages.size(); ++i) {
      const ChatMessage& message = request.messages[i];
      switch (message.role) {
        case ChatRole::user: append_user(message, i == first_user, i == last_user); break;
        case ChatRole::assistant: append_assistant(message, i < last_user); break;
        case ChatRole::tool: append_tool_result(message, i < last_user); break;
        case ChatRole::system: break;  // normalization leaves none
      }
    }
    return std::move(ids_);
  }

 private:
  bool is_v1() const { return version_ == MistralTemplateVersion::v1; }
  bool is_v2() const { return version_ == MistralTemplateVersion::v2; }

  static std::size_t first_index_of_user(const std::vector<ChatMessage>& messages) {
    for (std::size_t i = 0; i < messages.size(); ++i) {
      if (messages[i].role == ChatRole::user) return i;
    }
    return messages.size();
  }

  static std::size_t last_index_of_user(const std::vector<ChatMessage>& messages) {
    std::size_t last = messages.size();
    for (std::size_t i = 0; i < messages.size(); ++i) {
      if (messages[i].role == ChatRole::user) last = i;
    }
    return last;
  }

  void append_text(std::string_view text) {
    const std::vector<std::int32_t> encoded = tokenizer_.encode(text, /*add_bos=*/false);
    ids_.insert(ids_.end(), encoded.begin(), encoded.end());
  }

  void append_json(const PythonJsonValue& value) { append_text(dump_python_json(value)); }

  // v1 puts the system prompt in front of the first user message, v2/v3 in front of the last one.
  std::string user_text(const ChatMessage& message, bool gets_system_prompt) const {
    if (!gets_system_prompt || !system_prompt_) return message.content;
    return *system_prompt_ + "\n\n" + message.content;
  }

  void append_user(const ChatMessage& message, bool is_first, bool is_last) {
    if (is_v1()) {
      append_text("[INST] " + user_text(message, is_first) + " [/INST]");
      return;
    }
    if (is_last && !conversation_.tools.empty()) append_available_tools();
    ids_.push_back(controls_.begin_inst);
    append_text(user_text(message, is_last));
    ids_.push_back(controls_.end_inst);
  }

  void append_available_tools() {
    std::vector<PythonJsonValue> definitions;
    for (const ChatTool& tool : conversation_.tools) definitions.push_back(tool_definition(tool));
    ids_.push_back(controls_.begin_available_tools);
    append_json(PythonJsonValue::array(std::move(definitions)));
    ids_.push_back(controls_.end_available_tools);
  }

  void append_assistant(const ChatMessage& message, bool before_last_user) {
    if (!message.tool_calls.empty() && !message.content.empty()) {
      // Merged from consecutive assistant messages, one with text and one with calls.
      throw std::invalid_argument(
          "consecutive assistant messages merge into one with both content and tool calls; "
          "expected one or the other");
    }
    if (!message.tool_calls.empty()) {
      if (is_v2() && before_last_user) return;  // v2 forgets calls the user has moved past, EOS included
      append_tool_calls(message.tool_calls);
    } else if (is_v1()) {
      append_text(message.content);
    } else {
      append_text(without_trailing_spaces(message.content));
    }
    if (!message.prefix) ids_.push_back(tokenizer_.eos_id());
  }

  // v2: {"name", "arguments"}; v3 adds "id" when the call has one.
  void append_tool_calls(const std::vector<ChatToolCall>& calls) {
    std::vector<PythonJsonValue> prepared;
    for (const ChatToolCall& call : calls) {
      PythonJsonValue value = PythonJsonValue::object(
          {{"name", PythonJsonValue::string(call.name)}, {"arguments", json_or_string(call.arguments)}});
      if (!is_v2() && !call.id.empty() && call.id != "null") {
        value.members.emplace_back("id", PythonJsonValue::string(call.id));
      }
      prepared.push_back(std::move(value));
    }
    ids_.push_back(controls_.tool_calls);
    append_json(PythonJsonValue::array(std::move(prepared)));
  }

  // v2: [{"name", "content"}], dropped before the last user message; v3: {"content", "call_id"}, always.
  void append_tool_result(const ChatMessage& message, bool before_last_user) {
    PythonJsonValue result;
    if (is_v2()) {
      if (before_last_user) return;
      const PythonJsonValue name =
          message.name.empty() ? PythonJsonValue::null() : PythonJsonValue::string(message.name);
      result = PythonJsonValue::array(
          {PythonJsonValue::object({{"name", name}, {"content", json_or_string(message.content)}})});
    } else {
      result = PythonJsonValue::object(
          {{"content", json_or_string(message.content)}, {"call_id", PythonJsonValue::string(message.tool_call_id)}});
    }
    ids_.push_back(controls_.begin_tool_results);
    append_json(result);
    ids_.push_back(controls_.end_tool_results);
  }

  const SentencePieceTokenizer& tokenizer_;
  const MistralTemplateVersion version_;
  const ChatConversation& conversation_;
  ControlIds controls_;
  std::optional<std::string> system_prompt_;
  std::vector<std::int32_t> ids_;
};

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// v2 templates write tool calls and results but never a "call_id"; v3 templates write it in results.
bool is_v2_template(std::string_view chat_template) {
  const bool writes_tools = contains(chat_template, "[TOOL_CALLS]") || contains(chat_template, "[TOOL_RESULTS]");
  return writes_tools && !contains(chat_template, "call_id");
}

}  // namespace

std::string_view version_name(MistralTemplateVersion version) {
  switch (version) {
    case MistralTemplateVersion::v1: return "v1";
    case MistralTemplateVersion::v2: return "v2";
    case MistralTemplateVersion::v3: return "v3";
  }
  return "unknown";
}

std::vector<std::int32_t> build_mistral_prompt(const SentencePieceTokenizer& tokenizer, MistralTemplateVersion version,
                                               const ChatConversation& conversation) {
  validate_mistral_request(conversation, version);
  return MistralPromptBuilder(tokenizer, version, conversation).build();
}

MistralTemplateVersion select_template(const SentencePieceTokenizer& tokenizer,
                                       std::optional<std::string_view> gguf_chat_template) {
  if (gguf_chat_template && !contains(*gguf_chat_template, "[INST]")) {
    throw std::invalid_argument("the GGUF chat template has no [INST]; expected one of Mistral's templates, got: " +
                                std::string(gguf_chat_template->substr(0, 120)));
  }
  if (!has_control_piece(tokenizer, "[INST]")) return MistralTemplateVersion::v1;
  find_control_ids(tokenizer);  // throws naming a missing tool control piece
  if (gguf_chat_template && is_v2_template(*gguf_chat_template)) return MistralTemplateVersion::v2;
  return MistralTemplateVersion::v3;
}

}  // namespace mg::engine
