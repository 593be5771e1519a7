// Typed, path-aware reading of untrusted JSON with simdjson's On-Demand API, for the request parsers of
// the newer client APIs (formats/anthropic_messages_parse.cpp, formats/openai_responses_parse.cpp). A
// parser walks each object's fields once, in the client's order, and reads every value it meets: a value
// it does not model is still read whole (as_dom), so nothing in the document escapes validation.
// Violations are thrown as SchemaViolation (json_object_reader.h) and simdjson_error, and caught by
// parse_with_ondemand() alone; neither crosses an API boundary.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "core/json_object_reader.h"
#include "core/result.h"

namespace mg::ondemand {

using Value = simdjson::ondemand::value;

struct Limits {
  std::size_t max_body_bytes = 64u << 20;
};

// Parses `body` and hands its root value to `read_root`, which throws on a violation. Syntax errors,
// trailing bytes and invalid UTF-8 come back as 400 errors naming what was wrong. On-Demand does not
// bound nesting as it reads: the caller checks the depth first (formats/ondemand_request.h does), which
// also bounds as_dom's recursion.
Status parse_with_ondemand(std::string_view body, const Limits& limits, const std::function<void(Value)>& read_root);

// Where a value is in the body, for error messages ("messages[2].content"): parent links, made into text
// only when something names it, so walking a body costs no string per field. A Path lives on the stack
// of the walk that made it; its key is a view into the parser's buffer.
class Path {
 public:
  Path() = default;  // the body itself
  Path(const Path& parent, std::string_view key) : parent_(&parent), key_(key) {}
  Path(const Path& parent, std::size_t index) : parent_(&parent), index_(index) {}

  std::string str() const;
  operator std::string() const { return str(); }  // NOLINT: where an error message takes one
  friend std::string operator+(const Path& path, std::string_view tail) { return path.str() + std::string(tail); }

 private:
  static constexpr std::size_t kNoIndex = static_cast<std::size_t>(-1);
  const Path* parent_ = nullptr;
  std::string_view key_;
  std::size_t index_ = kNoIndex;
};

bool is_null(Value& value);
// The JSON type's name, for errors: "string", "number", "object", ...
const char* type_name(Value& value);
[[noreturn]] void wrong_type(const Path& path, const char* expected, Value& got);

std::string string(Value value, const Path& path);
bool boolean(Value value, const Path& path);
double number(Value value, const Path& path, double min, double max);
std::int64_t integer(Value value, const Path& path, std::int64_t min, std::int64_t max);
// The whole value as a DOM: JSON schemas, tool inputs, and what a parser passes on without modelling.
nlohmann::json as_dom(Value value);
// Reads the whole value, checking every literal, number and string in it, and keeps nothing: for the
// fields a parser accepts and ignores.
void validate(Value value);

// Calls `on_field(key, value, path)` for each member of an object, in order.
void for_each_field(Value value, const Path& path, const std::function<void(std::string_view key, Value field, const Path& field_path)>& on_field);
// Calls `on_element(value, path)` for each element of an array, in order.
void for_each_element(Value value, const Path& path, const std::function<void(Value element, const Path& element_path)>& on_element);

}  // namespace mg::ondemand
