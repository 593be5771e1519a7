// Typed, path-aware reading of untrusted JSON with simdjson's On-Demand API: every client API's request
// parser (formats/*_parse.cpp) and the gateway's one JSON document reader (read_document). A parser
// walks each object's fields once, in the client's order, and reads every value it meets: a value it
// does not model is still read whole (as_dom or validate), so nothing in the document escapes validation.
// Violations are thrown as SchemaViolation (json_object_reader.h) and simdjson_error, and caught by
// parse_with_ondemand() alone; neither crosses an API boundary.
//
// A parse builds within a budget of heap (Limits::max_parsed_bytes): a text of tiny values costs tens of
// times its length once parsed, so a bound on the text alone does not bound the memory. as_dom and
// string() count what they build; a parser counts its own records with charge(). Past the budget the
// parse stops with 413 request_too_complex.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "core/json_object_reader.h"
#include "core/result.h"

namespace mg::ondemand {

using Value = simdjson::ondemand::value;

struct Limits {
  std::size_t max_body_bytes = 64u << 20;
  std::size_t max_parsed_bytes = SIZE_MAX;  // heap the parse may build
};

// Parses `body`, an object, and hands its root value to `read_root`, which throws on a violation. Syntax
// errors, trailing bytes and invalid UTF-8 come back as 400 errors naming what was wrong. On-Demand does
// not bound nesting as it reads: the caller checks the depth first (formats/ondemand_request.h does),
// which also bounds as_dom's recursion. `parsed_bytes`, when given, gets the heap the parse counted.
Status parse_with_ondemand(std::string_view body, const Limits& limits, const std::function<void(Value)>& read_root,
                           std::size_t* parsed_bytes = nullptr);

// Any JSON text (a scalar too) as nlohmann's DOM, as nlohmann::json::parse reads it: the same values and
// types, the last of duplicate keys wins. Nesting is the caller's to bound first, as above.
Result<nlohmann::json> read_document(std::string_view text, const Limits& limits, std::size_t* parsed_bytes = nullptr);

// What a parsed value takes on the heap, as glibc's allocator and libstdc++ lay it out (an estimate a few
// percent high or low; what matters is that it grows as the true cost does).
struct HeapCost {
  static std::size_t chunk(std::size_t bytes) { return std::max<std::size_t>(32, (bytes + 8 + 15) & ~std::size_t{15}); }
  // A std::string's own buffer, beyond the short-string space inside it.
  static std::size_t string_buffer(std::size_t length) { return length > 15 ? chunk(length + 1) : 0; }
  // A DOM node that owns a heap object: a string, an object or an array.
  static std::size_t dom_string(std::size_t length) { return chunk(sizeof(std::string)) + string_buffer(length); }
  static std::size_t dom_object() { return chunk(sizeof(nlohmann::json::object_t)); }
  static std::size_t dom_array() { return chunk(sizeof(nlohmann::json::array_t)); }
  // An object's member: its map node, with the key.
  static std::size_t dom_member(std::size_t key_length) { return chunk(32 + sizeof(std::string) + sizeof(nlohmann::json)) + string_buffer(key_length); }
  // What simdjson holds while it reads a text, beside what the parse builds, until the parse ends: the
  // padded copy, the structural index (4 bytes a byte) and the string buffer (5/3 of a byte a byte).
  static std::size_t reader(std::size_t text_bytes) { return text_bytes + 4 * text_bytes + 5 * text_bytes / 3; }
};

// Counts `bytes` of heap the running parse builds; throws past its budget. Outside a parse, nothing.
void charge(std::size_t bytes);
// Counts the slot one more element takes in `elements`: a vector doubles when it is full.
template <class T>
void charge_slot(const std::vector<T>& elements) {
  if (elements.size() == elements.capacity()) charge(sizeof(T) * std::max<std::size_t>(1, elements.capacity()));
}
// Appends a record a parser builds, counting its slot.
template <class T>
void append_counted(std::vector<T>& elements, T element) {
  charge_slot(elements);
  elements.push_back(std::move(element));
}

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
// Throws naming the value it got (read whole, as for_each's callers have not yet read it).
[[noreturn]] void wrong_type(const Path& path, const char* expected, Value& got);

std::string string(Value value, const Path& path);
bool boolean(Value value, const Path& path);
double number(Value value, const Path& path, double min, double max);
std::int64_t integer(Value value, const Path& path, std::int64_t min, std::int64_t max);
// The whole value as a DOM: JSON schemas, tool inputs, and what a parser passes on without modelling.
nlohmann::json as_dom(Value value);
// object[key] = as_dom(value), the member's own map node counted too.
void set_member(nlohmann::json& object, std::string_view key, Value value);
// Reads the whole value, checking every literal, number and string in it, and keeps nothing: for the
// fields a parser accepts and ignores.
void validate(Value value);

// Calls `on_field(key, value, path)` for each member of an object, in order.
void for_each_field(Value value, const Path& path, const std::function<void(std::string_view key, Value field, const Path& field_path)>& on_field);
// Calls `on_element(value, path)` for each element of an array, in order.
void for_each_element(Value value, const Path& path, const std::function<void(Value element, const Path& element_path)>& on_element);

}  // namespace mg::ondemand
