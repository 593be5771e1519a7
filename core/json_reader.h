// A strict JSON (RFC 8259) reader for the request path: one pass over contiguous text, reported as SAX
// events, with strings copied in runs rather than a byte at a time. It accepts and rejects what
// nlohmann::json::parse does, with the same values (its tests and the chat_request fuzz target hold it to
// that oracle), at a fraction of nlohmann's lexing cost, which was a fifth of the gateway's own CPU time
// per request: every request body and every upstream answer or stream chunk is read through here.
//
// The handler gets: null(), boolean(bool), number_integer(std::int64_t) for negative integers,
// number_unsigned(std::uint64_t) for the others, number_float(double) (also for integers too large for
// 64 bits), string(std::string&), key(std::string&) (both movable from), start_object(), end_object(),
// start_array(), end_array(). Each returns false to stop the reading.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace mg {

struct JsonSyntaxError {
  std::size_t offset = 0;  // of the byte where the text stopped being JSON
  std::string what;        // empty when the handler stopped the reading
  bool over_budget = false;  // read_json_document: the DOM would take more memory than allowed
};

// The tokens, for read_json below; not for use on their own.
class JsonLexer {
 public:
  explicit JsonLexer(std::string_view text) : text_(text) {}

  enum class Number { integer, unsigned_integer, floating };

  void skip_byte_order_mark();  // as nlohmann does, once at the start
  void skip_whitespace() {
    while (pos_ < text_.size() && is_whitespace(text_[pos_])) ++pos_;
  }
  bool at_end() const { return pos_ == text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  bool take(char c) {
    if (peek() != c || at_end()) return false;
    ++pos_;
    return true;
  }

  bool read_string(std::string& out);  // at the opening quote
  bool read_number(Number& kind);       // the value in integer() / unsigned_integer() / floating()
  bool read_literal(std::string_view word);
  std::int64_t integer() const { return integer_; }
  std::uint64_t unsigned_integer() const { return unsigned_; }
  double floating() const { return floating_; }

  bool fail(const char* what);
  bool handler_stopped();
  JsonSyntaxError error() const { return error_; }

 private:
  static bool is_whitespace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
  bool read_escape(std::string& out);
  bool read_hex4(std::uint32_t& value);
  bool copy_utf8_sequence(std::string& out);
  bool read_floating(std::string_view token);

  std::string_view text_;
  std::size_t pos_ = 0;
  std::int64_t integer_ = 0;
  std::uint64_t unsigned_ = 0;
  double floating_ = 0;
  JsonSyntaxError error_;
};

namespace json_reading {

template <class Handler>
bool read_scalar(JsonLexer& lexer, Handler& handler, std::string& buffer) {
  switch (lexer.peek()) {
    case '"': return lexer.read_string(buffer) && (handler.string(buffer) || lexer.handler_stopped());
    case 't': return lexer.read_literal("true") && (handler.boolean(true) || lexer.handler_stopped());
    case 'f': return lexer.read_literal("false") && (handler.boolean(false) || lexer.handler_stopped());
    case 'n': return lexer.read_literal("null") && (handler.null() || lexer.handler_stopped());
    default: break;
  }
  JsonLexer::Number kind;
  if (!lexer.read_number(kind)) return false;
  bool go_on = kind == JsonLexer::Number::integer            ? handler.number_integer(lexer.integer())
               : kind == JsonLexer::Number::unsigned_integer ? handler.number_unsigned(lexer.unsigned_integer())
                                                             : handler.number_float(lexer.floating());
  return go_on || lexer.handler_stopped();
}

// At an object's key: reads it and its colon.
template <class Handler>
bool read_key(JsonLexer& lexer, Handler& handler, std::string& buffer) {
  lexer.skip_whitespace();
  if (lexer.peek() != '"') return lexer.fail("expected a string as the object's key");
  if (!lexer.read_string(buffer)) return false;
  if (!handler.key(buffer)) return lexer.handler_stopped();
  lexer.skip_whitespace();
  return lexer.take(':') || lexer.fail("expected ':' after the object's key");
}

}  // namespace json_reading

// Reads `text` as one JSON value (whitespace around it allowed, nothing else). False when it is not
// JSON or the handler stopped; then `error`, when given, says where and why.
template <class Handler>
bool read_json(std::string_view text, Handler& handler, JsonSyntaxError* error = nullptr) {
  using namespace json_reading;
  JsonLexer lexer(text);
  std::string open;  // '{' or '[' for each container the reading is in
  std::string buffer;
  auto failed = [&] {
    if (error) *error = lexer.error();
    return false;
  };
  auto stopped = [&] {
    lexer.handler_stopped();
    return failed();
  };
  auto syntax_error = [&](const char* what) {
    lexer.fail(what);
    return failed();
  };
  lexer.skip_byte_order_mark();
  while (true) {
    lexer.skip_whitespace();  // a value starts here
    char c = lexer.peek();
    if (c == '{' || c == '[') {
      lexer.take(c);
      bool object = c == '{';
      if (!(object ? handler.start_object() : handler.start_array())) return stopped();
      lexer.skip_whitespace();
      if (!lexer.take(object ? '}' : ']')) {
        open.push_back(c);
        if (object && !read_key(lexer, handler, buffer)) return failed();
        continue;
      }
      if (!(object ? handler.end_object() : handler.end_array())) return stopped();
    } else if (!read_scalar(lexer, handler, buffer)) {
      return failed();
    }
    // After a value: close what ends here, then go to the next element, or to the end of the text.
    while (true) {
      lexer.skip_whitespace();
      if (open.empty()) return lexer.at_end() || syntax_error("unexpected text after the JSON value");
      bool object = open.back() == '{';
      if (lexer.take(',')) {
        if (object && !read_key(lexer, handler, buffer)) return failed();
        break;
      }
      if (!lexer.take(object ? '}' : ']')) return syntax_error(object ? "expected ',' or '}'" : "expected ',' or ']'");
      open.pop_back();
      if (!(object ? handler.end_object() : handler.end_array())) return stopped();
    }
  }
}

// The whole document as nlohmann's DOM, as nlohmann::json::parse builds it (the last of duplicate keys
// wins). Nullopt when `text` is not JSON, with `error` saying why, or when the DOM would take more than
// `max_dom_bytes` of heap (error.over_budget): a text of tiny objects costs tens of times its length as a
// DOM, so a bound on the text alone does not bound the memory.
// `dom_bytes`, when given, gets the heap the document took (or would have, up to where it stopped).
std::optional<nlohmann::json> read_json_document(std::string_view text, JsonSyntaxError& error,
                                                 std::size_t max_dom_bytes = SIZE_MAX, std::size_t* dom_bytes = nullptr);

// What the DOM of one value takes on the heap, as glibc's allocator and libstdc++ lay it out: the value's
// own allocations and, given its parent, the slot or map node it takes there (an estimate a few percent
// high or low; what matters is that it grows as the true cost does).
struct DomCost {
  static std::size_t heap_chunk(std::size_t bytes) { return std::max<std::size_t>(32, (bytes + 8 + 15) & ~std::size_t{15}); }
  static std::size_t string(std::size_t length) { return heap_chunk(sizeof(std::string)) + (length > 15 ? heap_chunk(length + 1) : 0); }
  static std::size_t object() { return heap_chunk(sizeof(nlohmann::json::object_t)); }
  static std::size_t array() { return heap_chunk(sizeof(nlohmann::json::array_t)); }
  // What an array's buffer grows by when an element finds it full at `capacity` (it doubles); the old
  // buffer lives until the elements are moved, so the growth briefly takes `capacity` more.
  static std::size_t array_growth(std::size_t capacity) { return sizeof(nlohmann::json) * std::max<std::size_t>(1, capacity); }
  // An object's member, with its key.
  static std::size_t object_member(std::size_t key_length) {
    return heap_chunk(32 + sizeof(std::string) + sizeof(nlohmann::json)) + (key_length > 15 ? heap_chunk(key_length + 1) : 0);
  }
};

}  // namespace mg
