#include "formats/openai_answer_reader.h"

#include "core/json_ondemand.h"
#include "formats/openai_wire.h"

namespace mg {
namespace {

namespace od = ondemand;
using simdjson::ondemand::json_type;

// A wrong type counts as absent: the value is still read, so a malformed one fails the chunk.
std::string text_or_empty(od::Value value) {
  if (value.type() == json_type::string) return std::string(value.get_string().value());
  od::validate(value);
  return {};
}

std::int64_t integer_or_zero(od::Value value) {
  if (value.type() != json_type::number) {
    od::validate(value);
    return 0;
  }
  nlohmann::json number = od::as_dom(value);  // throws when malformed
  return number.is_number_integer() ? number.get<std::int64_t>() : 0;  // huge unsigned ones wrap, as a DOM's get<int64_t> gives them
}

bool is_object(od::Value& value) { return value.type() == json_type::object; }

// Calls `on_member(key, value)` for each member of an object.
template <class OnMember>
void for_each_member(od::Value object, OnMember&& on_member) {
  for (simdjson::ondemand::field member : object.get_object()) on_member(member.unescaped_key().value(), member.value());
}

// The fields the decoder needs, picked as a DOM would give them: the last of duplicate keys wins.
class ChunkReader {
 public:
  explicit ChunkReader(std::string_view body_key) : body_key_(body_key) {}

  void read(od::Value root) {
    for_each_member(root, [&](std::string_view key, od::Value value) {
      if (key == "choices") read_choices(value);
      else if (key == "usage") read_usage(value);
      else if (key == "error") read_error(value);
      else od::validate(value);
    });
  }

  AnswerChunk& chunk() { return chunk_; }

 private:
  void read_choices(od::Value value) {
    chunk_.choices.clear();
    chunk_.has_choices = value.type() == json_type::array;
    if (!chunk_.has_choices) return od::validate(value);
    for (od::Value element : value.get_array()) {
      if (!is_object(element)) {
        od::validate(element);
        continue;
      }
      chunk_.choices.emplace_back();
      read_choice(element, chunk_.choices.back());
    }
  }

  void read_choice(od::Value value, ChoiceFragment& choice) {
    for_each_member(value, [&](std::string_view key, od::Value field) {
      if (key == "index") choice.index = integer_or_zero(field);
      else if (key == "text") choice.text = text_or_empty(field);
      else if (key == "finish_reason") choice.finish_reason = text_or_empty(field);
      else if (!body_key_.empty() && key == body_key_) read_body(field, choice);
      else od::validate(field);
    });
  }

  void read_body(od::Value value, ChoiceFragment& choice) {
    choice.has_body = is_object(value);
    choice.content.clear();
    choice.tool_calls.clear();
    if (!choice.has_body) return od::validate(value);
    for_each_member(value, [&](std::string_view key, od::Value field) {
      if (key == "content") choice.content = text_or_empty(field);
      else if (key == "tool_calls") read_tool_calls(field, choice.tool_calls);
      else od::validate(field);
    });
  }

  static void read_tool_calls(od::Value value, std::vector<ToolCallFragment>& calls) {
    calls.clear();
    if (value.type() != json_type::array) return od::validate(value);
    std::size_t position = 0;
    for (od::Value element : value.get_array()) {
      if (is_object(element)) {
        calls.push_back(ToolCallFragment{std::nullopt, position, {}, {}, {}});
        read_call(element, calls.back());
      } else {
        od::validate(element);
      }
      ++position;
    }
  }

  static void read_call(od::Value value, ToolCallFragment& call) {
    for_each_member(value, [&](std::string_view key, od::Value field) {
      if (key == "index") call.index = integer_or_zero(field);
      else if (key == "id") call.id = text_or_empty(field);
      else if (key == "function") read_function(field, call);
      else od::validate(field);
    });
  }

  static void read_function(od::Value value, ToolCallFragment& call) {
    call.name.clear();
    call.arguments.clear();
    if (!is_object(value)) return od::validate(value);
    for_each_member(value, [&](std::string_view key, od::Value field) {
      if (key == "name") call.name = text_or_empty(field);
      else if (key == "arguments") call.arguments = text_or_empty(field);
      else od::validate(field);
    });
  }

  void read_usage(od::Value value) {
    chunk_.usage.reset();
    if (!is_object(value)) return od::validate(value);
    UsageFragment& usage = chunk_.usage.emplace();
    for_each_member(value, [&](std::string_view key, od::Value field) {
      if (key == "prompt_tokens") usage.prompt_tokens = integer_or_zero(field);
      else if (key == "completion_tokens") usage.completion_tokens = integer_or_zero(field);
      else if (key == "prompt_tokens_details") read_usage_details(field, usage);
      else od::validate(field);
    });
  }

  static void read_usage_details(od::Value value, UsageFragment& usage) {
    usage.cached_prompt_tokens = 0;
    if (!is_object(value)) return od::validate(value);
    for_each_member(value, [&](std::string_view key, od::Value field) {
      if (key == "cached_tokens") usage.cached_prompt_tokens = integer_or_zero(field);
      else od::validate(field);
    });
  }

  void read_error(od::Value value) {
    if (!is_object(value)) {
      chunk_.error = text_or_empty(value);
      return;
    }
    chunk_.error.emplace();
    for_each_member(value, [&](std::string_view key, od::Value field) {
      if (key == "message") chunk_.error = text_or_empty(field);
      else od::validate(field);
    });
  }

  std::string_view body_key_;
  AnswerChunk chunk_;
};

}  // namespace

std::optional<AnswerChunk> read_answer_chunk(std::string_view text, std::string_view body_key, std::size_t max_depth) {
  if (!check_nesting_depth(text, max_depth)) return std::nullopt;
  ChunkReader reader(body_key);
  if (!ondemand::parse_with_ondemand(text, {}, [&](od::Value root) { reader.read(root); })) return std::nullopt;
  return std::move(reader.chunk());
}

}  // namespace mg
