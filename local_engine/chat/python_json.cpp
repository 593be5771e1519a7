// Python's json.loads and json.dumps(ensure_ascii=False), restated for mistral-common's prompts (see the
// header for the rules). The parser follows CPython's C scanner (Modules/_json.c) where JSON leaves room.
#include "local_engine/chat/python_json.h"

#include <stdexcept>

#include "local_engine/chat/python_float.h"

namespace mg::engine {

PythonJsonValue::PythonJsonValue() = default;

PythonJsonValue PythonJsonValue::string(std::string text) {
  PythonJsonValue value;
  value.kind = Kind::string;
  value.text = std::move(text);
  return value;
}

PythonJsonValue PythonJsonValue::array(std::vector<PythonJsonValue> items) {
  PythonJsonValue value;
  value.kind = Kind::array;
  value.text.clear();
  value.items = std::move(items);
  return value;
}

PythonJsonValue PythonJsonValue::object(std::vector<std::pair<std::string, PythonJsonValue>> members) {
  PythonJsonValue value;
  value.kind = Kind::object;
  value.text.clear();
  value.members = std::move(members);
  return value;
}

const PythonJsonValue* PythonJsonValue::find(std::string_view key) const {
  if (kind != Kind::object) return nullptr;
  for (const auto& [name, member] : members) {
    if (name == key) return &member;
  }
  return nullptr;
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// 0..15 for a hex digit of either case; -1 otherwise.
int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(char32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

class PythonJsonParser {
 public:
  explicit PythonJsonParser(std::string_view text) : text_(text) {}

  std::optional<PythonJsonValue> parse_document() {
    skip_whitespace();
    std::optional<PythonJsonValue> value = parse_value(0);
    skip_whitespace();
    if (!value || pos_ != text_.size()) return std::nullopt;  // "Extra data" in Python's words
    if (lone_surrogate_) {
      throw std::invalid_argument(
          "JSON text holds a \\u escape of a lone UTF-16 surrogate (\\ud800 to \\udfff without its pair); "
          "expected whole characters");
    }
    return value;
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  bool starts_with(std::string_view word) const { return text_.substr(pos_).starts_with(word); }

  void skip_whitespace() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }

  static PythonJsonValue literal(std::string text) {
    PythonJsonValue value;
    value.text = std::move(text);
    return value;
  }

  // `depth`: the arrays and objects around the value.
  std::optional<PythonJsonValue> parse_value(std::size_t depth) {
    switch (peek()) {
      case '"': {
        ++pos_;
        std::optional<std::string> text = parse_string_body();
        if (!text) return std::nullopt;
        return PythonJsonValue::string(std::move(*text));
      }
      case '{': return parse_object(depth);
      case '[': return parse_array(depth);
      default: break;
    }
    for (const std::string_view word : {"null", "true", "false", "NaN", "Infinity", "-Infinity"}) {
      if (starts_with(word)) {
        pos_ += word.size();
        return literal(std::string(word));
      }
    }
    return parse_number();
  }

  static void check_depth(std::size_t depth) {
    if (depth >= max_python_json_depth) {
      throw std::invalid_argument("JSON text nests arrays and objects deeper than " +
                                  std::to_string(max_python_json_depth) + " levels");
    }
  }

  std::optional<PythonJsonValue> parse_object(std::size_t depth) {
    check_depth(depth);
    ++pos_;  // '{'
    PythonJsonValue object = PythonJsonValue::object({});
    skip_whitespace();
    if (peek() == '}') {
      ++pos_;
      return object;
    }
    while (true) {
      if (peek() != '"') return std::nullopt;
      ++pos_;
      std::optional<std::string> key = parse_string_body();
      if (!key) return std::nullopt;
      skip_whitespace();
      if (peek() != ':') return std::nullopt;
      ++pos_;
      skip_whitespace();
      std::optional<PythonJsonValue> value = parse_value(depth + 1);
      if (!value) return std::nullopt;
      set_member(object, std::move(*key), std::move(*value));
      skip_whitespace();
      if (peek() == '}') {
        ++pos_;
        return object;
      }
      if (peek() != ',') return std::nullopt;
      ++pos_;
      skip_whitespace();
    }
  }

  // A dict assignment: a repeated key keeps its first position and takes the new value.
  static void set_member(PythonJsonValue& object, std::string key, PythonJsonValue value) {
    for (auto& [name, member] : object.members) {
      if (name == key) {
        member = std::move(value);
        return;
      }
    }
    object.members.emplace_back(std::move(key), std::move(value));
  }

  std::optional<PythonJsonValue> parse_array(std::size_t depth) {
    check_depth(depth);
    ++pos_;  // '['
    PythonJsonValue array = PythonJsonValue::array({});
    skip_whitespace();
    if (peek() == ']') {
      ++pos_;
      return array;
    }
    while (true) {
      std::optional<PythonJsonValue> item = parse_value(depth + 1);
      if (!item) return std::nullopt;
      array.items.push_back(std::move(*item));
      skip_whitespace();
      if (peek() == ']') {
        ++pos_;
        return array;
      }
      if (peek() != ',') return std::nullopt;
      ++pos_;
      skip_whitespace();
    }
  }

  // After the opening quote, up to and including the closing one.
  std::optional<std::string> parse_string_body() {
    std::string out;
    while (!at_end()) {
      const char c = text_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) return std::nullopt;  // strict: raw control characters
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_end()) return std::nullopt;
      const char escape = text_[pos_++];
      switch (escape) {
        case '"':
        case '\\':
        case '/': out += escape; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u':
          if (!parse_unicode_escape(out)) return std::nullopt;
          break;
        default: return std::nullopt;
      }
    }
    return std::nullopt;  // unterminated
  }

  std::optional<char32_t> parse_hex4(std::size_t at) const {
    if (at + 4 > text_.size()) return std::nullopt;
    char32_t unit = 0;
    for (std::size_t i = at; i < at + 4; ++i) {
      const int nibble = hex_value(text_[i]);
      if (nibble < 0) return std::nullopt;
      unit = (unit << 4) | static_cast<char32_t>(nibble);
    }
    return unit;
  }

  // After "\u". A high surrogate followed by "\u" takes the next four digits too: joined when they are a
  // low surrogate, left for the next escape otherwise (CPython's order, invalid digits failing either way).
  bool parse_unicode_escape(std::string& out) {
    std::optional<char32_t> unit = parse_hex4(pos_);
    if (!unit) return false;
    pos_ += 4;
    char32_t code_point = *unit;
    if (code_point >= 0xD800 && code_point <= 0xDBFF && starts_with("\\u")) {
      const std::optional<char32_t> low = parse_hex4(pos_ + 2);
      if (!low) return false;
      if (*low >= 0xDC00 && *low <= 0xDFFF) {
        code_point = 0x10000 + ((code_point - 0xD800) << 10) + (*low - 0xDC00);
        pos_ += 6;
      }
    }
    if (code_point >= 0xD800 && code_point <= 0xDFFF) {
      lone_surrogate_ = true;
      return true;
    }
    append_utf8(code_point, out);
    return true;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)? ; a '.' or 'e' without digits after it ends the number
  // before it (and then fails as extra data, as in Python).
  std::optional<PythonJsonValue> parse_number() {
    const std::size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (is_digit(peek())) {
      while (is_digit(peek())) ++pos_;
    } else {
      return std::nullopt;
    }
    bool is_float = false;
    if (peek() == '.' && pos_ + 1 < text_.size() && is_digit(text_[pos_ + 1])) {
      pos_ += 1;
      while (is_digit(peek())) ++pos_;
      is_float = true;
    }
    if (peek() == 'e' || peek() == 'E') {
      std::size_t after = pos_ + 1;
      if (after < text_.size() && (text_[after] == '+' || text_[after] == '-')) ++after;
      if (after < text_.size() && is_digit(text_[after])) {
        pos_ = after;
        while (is_digit(peek())) ++pos_;
        is_float = true;
      }
    }
    const std::string_view number = text_.substr(start, pos_ - start);
    if (is_float) return literal(python_float_repr(python_float_from_literal(number)));
    return literal(number == "-0" ? "0" : std::string(number));  // Python's int has no negative zero
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  bool lone_surrogate_ = false;
};

void append_quoted(std::string_view text, std::string& out) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\u00";
          out += hex[static_cast<unsigned char>(c) >> 4];
          out += hex[static_cast<unsigned char>(c) & 0xF];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void append_dump(const PythonJsonValue& value, std::string& out) {
  switch (value.kind) {
    case PythonJsonValue::Kind::literal: out += value.text; return;
    case PythonJsonValue::Kind::string: append_quoted(value.text, out); return;
    case PythonJsonValue::Kind::array:
      out += '[';
      for (std::size_t i = 0; i < value.items.size(); ++i) {
        if (i > 0) out += ", ";
        append_dump(value.items[i], out);
      }
      out += ']';
      return;
    case PythonJsonValue::Kind::object:
      out += '{';
      for (std::size_t i = 0; i < value.members.size(); ++i) {
        if (i > 0) out += ", ";
        append_quoted(value.members[i].first, out);
        out += ": ";
        append_dump(value.members[i].second, out);
      }
      out += '}';
      return;
  }
}

}  // namespace

std::optional<PythonJsonValue> parse_python_json(std::string_view text) {
  return PythonJsonParser(text).parse_document();
}

std::string dump_python_json(const PythonJsonValue& value) {
  std::string out;
  append_dump(value, out);
  return out;
}

}  // namespace mg::engine
