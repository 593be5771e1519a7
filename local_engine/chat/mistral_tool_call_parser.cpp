// The model's side of Mistral's tool format: the inverse of the [TOOL_CALLS] segment that
// mistral_chat_template.cpp writes into prompts.
#include "local_engine/chat/mistral_tool_call_parser.h"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "local_engine/chat/mistral_request_rules.h"
#include "local_engine/chat/python_json.h"

namespace mg::engine {
namespace {

std::int32_t tool_calls_control_id(const SentencePieceTokenizer& tokenizer) {
  const std::int32_t id = tokenizer.find("[TOOL_CALLS]");
  return id >= 0 && tokenizer.is_control(id) ? id : -1;
}

// One {"name", "arguments", "id"} object; the error text, or empty when `call` is filled.
std::string read_call(const PythonJsonValue& value, const std::function<std::string()>& new_call_id,
                      ChatToolCall& call) {
  if (!value.is_object()) return "a tool call is not a JSON object";
  const PythonJsonValue* name = value.find("name");
  if (name == nullptr || !name->is_string() || name->text.empty()) return "a tool call has no \"name\" string";
  call.name = name->text;

  const PythonJsonValue* arguments = value.find("arguments");
  if (arguments == nullptr) {
    call.arguments = "{}";
  } else {
    call.arguments = arguments->is_string() ? arguments->text : dump_python_json(*arguments);
  }

  const PythonJsonValue* id = value.find("id");
  const bool has_valid_id = id != nullptr && id->is_string() && is_mistral_tool_call_id(id->text);
  call.id = has_valid_id ? id->text : new_call_id();
  return {};
}

// The calls of one segment after [TOOL_CALLS]; the error text, or empty.
std::string read_calls(std::string_view text, const std::function<std::string()>& new_call_id,
                       std::vector<ChatToolCall>& calls) {
  std::optional<PythonJsonValue> value;
  try {
    value = parse_python_json(text);
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  if (!value) return "the text after [TOOL_CALLS] is not JSON";
  if (value->is_object()) *value = PythonJsonValue::array({std::move(*value)});
  if (!value->is_array()) return "the text after [TOOL_CALLS] is no list of tool calls";
  for (const PythonJsonValue& item : value->items) {
    ChatToolCall call;
    if (std::string error = read_call(item, new_call_id, call); !error.empty()) return error;
    calls.push_back(std::move(call));
  }
  return {};
}

}  // namespace

MistralAssistantOutput parse_mistral_output(const SentencePieceTokenizer& tokenizer,
                                            std::span<const std::int32_t> generated,
                                            const std::function<std::string()>& new_call_id) {
  const auto eos = std::find(generated.begin(), generated.end(), tokenizer.eos_id());
  const std::span<const std::int32_t> answer(generated.begin(), eos);
  const std::int32_t tool_calls_id = tool_calls_control_id(tokenizer);

  auto segment_start = std::find(answer.begin(), answer.end(), tool_calls_id);
  MistralAssistantOutput output;
  output.content = tokenizer.decode(std::span<const std::int32_t>(answer.begin(), segment_start));
  while (segment_start != answer.end()) {
    const auto segment_end = std::find(segment_start + 1, answer.end(), tool_calls_id);
    const std::string text = tokenizer.decode(std::span<const std::int32_t>(segment_start + 1, segment_end));
    output.tool_call_text += text;
    if (output.error.empty()) output.error = read_calls(text, new_call_id, output.tool_calls);
    segment_start = segment_end;
  }
  if (!output.error.empty()) output.tool_calls.clear();
  return output;
}

std::string mistral_tool_call_id(std::uint64_t random_bits) {
  static constexpr std::string_view alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string id(9, 'a');
  for (char& c : id) {
    c = alphabet[random_bits % alphabet.size()];
    random_bits /= alphabet.size();
  }
  return id;
}

}  // namespace mg::engine
