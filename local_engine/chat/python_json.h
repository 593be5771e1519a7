// JSON as Python's json module reads and writes it. mistral-common writes every tool definition, tool call
// and tool result into the prompt as json.dumps(json.loads(text), ensure_ascii=False), so the tokens the
// model sees depend on Python's exact rules, which this file restates:
//  - separators ", " and ": ", no newlines; object keys keep their order, and a repeated key keeps its
//    first place with its last value (a Python dict being filled);
//  - integers as written, except "-0", which is the int 0; every other number is a float written by
//    repr(): shortest round-trip digits, "1e+16", "1e-05", "100000.0", "0.0"; NaN, Infinity and
//    -Infinity are read and written back as those words (1e400 becomes Infinity);
//  - strings: non-ASCII as raw UTF-8, `"` and `\` escaped, \b \f \n \r \t by name, other characters
//    below U+0020 as \u00xx (lowercase hex), everything else (DEL included) as is;
//  - reading is strict: no raw control characters inside strings, nothing but ' ', \t, \n, \r as
//    whitespace, no trailing commas, no single quotes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mg::engine {

struct PythonJsonValue {
  enum class Kind { literal, string, array, object };

  Kind kind = Kind::literal;
  // literal: as json.dumps writes it ("null", "true", "5", "1e+16", "NaN"); string: the decoded UTF-8.
  std::string text = "null";
  std::vector<PythonJsonValue> items;                            // array
  std::vector<std::pair<std::string, PythonJsonValue>> members;  // object, in dict order

  // Declared here, defined in the .cpp: deciding whether an implicit constructor exists would need
  // std::pair<std::string, PythonJsonValue> complete inside its own member (clang rejects that).
  PythonJsonValue();

  static PythonJsonValue null() { return {}; }
  static PythonJsonValue string(std::string text);
  static PythonJsonValue array(std::vector<PythonJsonValue> items);
  static PythonJsonValue object(std::vector<std::pair<std::string, PythonJsonValue>> members);

  bool is_string() const { return kind == Kind::string; }
  bool is_object() const { return kind == Kind::object; }
  bool is_array() const { return kind == Kind::array; }
  // The member's value in an object; nullptr when absent or when this is no object.
  const PythonJsonValue* find(std::string_view key) const;
};

// Deeper nesting than this is refused (Python itself stops near 1000 with a RecursionError).
inline constexpr std::size_t max_python_json_depth = 512;

// json.loads(text): nullopt where Python raises JSONDecodeError. Throws std::invalid_argument where
// Python fails in another way: nesting deeper than max_python_json_depth, or a \uD800-\uDFFF escape
// that is not half of a surrogate pair (Python keeps it, and then cannot encode the prompt as UTF-8).
std::optional<PythonJsonValue> parse_python_json(std::string_view text);

// json.dumps(value, ensure_ascii=False).
std::string dump_python_json(const PythonJsonValue& value);

}  // namespace mg::engine
