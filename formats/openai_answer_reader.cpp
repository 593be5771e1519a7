#include "formats/openai_answer_reader.h"

#include "core/json_reader.h"

namespace mg {
namespace {

// Where a value sits: the container it is in, as far as the reader cares.
enum class Place { root, choices, choice, body, tool_calls, call, function, usage, details, error, skipped };

// A value as the SAX events give it: containers only by their kind; scalars that matter, by value.
struct Value {
  enum class Kind { object, array, string, integer, other } kind;
  std::string* string = nullptr;
  std::int64_t integer = 0;

  std::string text() const { return kind == Kind::string ? std::move(*string) : std::string(); }
  std::int64_t number() const { return kind == Kind::integer ? integer : 0; }
  bool is_object() const { return kind == Kind::object; }
  bool is_array() const { return kind == Kind::array; }
};

class AnswerSax {
 public:
  AnswerSax(std::string_view body_key, std::size_t max_depth) : body_key_(body_key), max_depth_(max_depth) {}

  AnswerChunk& chunk() { return chunk_; }
  bool saw_root_object() const { return saw_root_object_; }

  // read_json's events.
  bool null() { return take({Value::Kind::other}); }
  bool boolean(bool) { return take({Value::Kind::other}); }
  bool number_integer(std::int64_t value) { return take({Value::Kind::integer, nullptr, value}); }
  bool number_unsigned(std::uint64_t value) {
    return take({Value::Kind::integer, nullptr, static_cast<std::int64_t>(value)});  // huge ones wrap: out of any range
  }
  bool number_float(double) { return take({Value::Kind::other}); }
  bool string(std::string& value) { return take({Value::Kind::string, &value}); }
  bool key(std::string& name) {
    key_.swap(name);  // the reader clears its buffer before it reads into it again
    return true;
  }
  bool start_object() { return open({Value::Kind::object}); }
  bool start_array() { return open({Value::Kind::array}); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

 private:
  bool take(Value value) {
    if (places_.empty()) return false;  // the document is not an object
    place_value(value);
    return true;
  }

  bool open(Value value) {
    if (places_.empty()) {
      if (!value.is_object()) return false;
      saw_root_object_ = true;
      enter(Place::root);
      return true;
    }
    if (places_.size() >= max_depth_) return false;
    enter(place_value(value));
    return true;
  }

  void enter(Place place) {
    places_.push_back(place);
    positions_.push_back(0);
  }

  bool close() {
    places_.pop_back();
    positions_.pop_back();
    return true;
  }

  // Applies a value at the current place and key; returns where a container's members sit.
  Place place_value(const Value& value) {
    switch (places_.back()) {
      case Place::root: return in_root(value);
      case Place::choices: return in_choices(value);
      case Place::choice: return in_choice(value);
      case Place::body: return in_body(value);
      case Place::tool_calls: return in_tool_calls(value);
      case Place::call: return in_call(value);
      case Place::function: return in_function(value);
      case Place::usage: return in_usage(value);
      case Place::details: return in_details(value);
      case Place::error: return in_error(value);
      case Place::skipped: return Place::skipped;
    }
    return Place::skipped;
  }

  Place in_root(const Value& value) {
    if (key_ == "choices") {
      chunk_.choices.clear();
      chunk_.has_choices = value.is_array();
      return value.is_array() ? Place::choices : Place::skipped;
    }
    if (key_ == "usage") {
      chunk_.usage.reset();
      if (!value.is_object()) return Place::skipped;
      chunk_.usage.emplace();
      return Place::usage;
    }
    if (key_ == "error") {
      chunk_.error = value.text();
      return value.is_object() ? Place::error : Place::skipped;
    }
    return Place::skipped;
  }

  Place in_choices(const Value& value) {
    if (!value.is_object()) return Place::skipped;
    chunk_.choices.emplace_back();
    return Place::choice;
  }

  Place in_choice(const Value& value) {
    ChoiceFragment& choice = chunk_.choices.back();
    if (key_ == "index") choice.index = value.number();
    else if (key_ == "text") choice.text = value.text();
    else if (key_ == "finish_reason") choice.finish_reason = value.text();
    else if (!body_key_.empty() && key_ == body_key_) {
      choice.has_body = value.is_object();
      choice.content.clear();
      choice.tool_calls.clear();
      if (value.is_object()) return Place::body;
    }
    return Place::skipped;
  }

  Place in_body(const Value& value) {
    ChoiceFragment& choice = chunk_.choices.back();
    if (key_ == "content") choice.content = value.text();
    else if (key_ == "tool_calls") {
      choice.tool_calls.clear();
      if (value.is_array()) return Place::tool_calls;
    }
    return Place::skipped;
  }

  Place in_tool_calls(const Value& value) {
    std::size_t position = positions_.back()++;
    if (!value.is_object()) return Place::skipped;
    chunk_.choices.back().tool_calls.push_back(ToolCallFragment{std::nullopt, position, {}, {}, {}});
    return Place::call;
  }

  Place in_call(const Value& value) {
    ToolCallFragment& call = chunk_.choices.back().tool_calls.back();
    if (key_ == "index") call.index = value.number();
    else if (key_ == "id") call.id = value.text();
    else if (key_ == "function") {
      call.name.clear();
      call.arguments.clear();
      if (value.is_object()) return Place::function;
    }
    return Place::skipped;
  }

  Place in_function(const Value& value) {
    ToolCallFragment& call = chunk_.choices.back().tool_calls.back();
    if (key_ == "name") call.name = value.text();
    else if (key_ == "arguments") call.arguments = value.text();
    return Place::skipped;
  }

  Place in_usage(const Value& value) {
    UsageFragment& usage = *chunk_.usage;
    if (key_ == "prompt_tokens") usage.prompt_tokens = value.number();
    else if (key_ == "completion_tokens") usage.completion_tokens = value.number();
    else if (key_ == "prompt_tokens_details") {
      usage.cached_prompt_tokens = 0;
      if (value.is_object()) return Place::details;
    }
    return Place::skipped;
  }

  Place in_details(const Value& value) {
    if (key_ == "cached_tokens") chunk_.usage->cached_prompt_tokens = value.number();
    return Place::skipped;
  }

  Place in_error(const Value& value) {
    if (key_ == "message") chunk_.error = value.text();
    return Place::skipped;
  }

  std::string_view body_key_;
  std::size_t max_depth_;
  AnswerChunk chunk_;
  std::vector<Place> places_;
  std::vector<std::size_t> positions_;  // for each place: the elements of that array seen so far
  std::string key_;                     // the key of the value that comes next
  bool saw_root_object_ = false;
};

}  // namespace

std::optional<AnswerChunk> read_answer_chunk(std::string_view text, std::string_view body_key, std::size_t max_depth) {
  AnswerSax sax(body_key, max_depth);
  if (!read_json(text, sax) || !sax.saw_root_object()) return std::nullopt;
  return std::move(sax.chunk());
}

}  // namespace mg
