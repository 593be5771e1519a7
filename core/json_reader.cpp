#include "core/json_reader.h"

#include <array>
#include <charconv>
#include <clocale>
#include <cmath>
#include <cstdlib>
#include <vector>

#include <locale.h>

namespace mg {
namespace {

// Bytes a string literal holds as they are: printable ASCII but the quote and the backslash.
constexpr std::array<bool, 256> kPlainStringByte = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x80; ++c) plain[c] = c != '"' && c != '\\';
  return plain;
}();

bool is_digit(char c) { return c >= '0' && c <= '9'; }

void append_utf8(std::string& out, std::uint32_t code_point) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

// The range of the second byte of a well-formed UTF-8 sequence led by `lead` (Unicode's table 3-7:
// no overlong forms, no surrogates, nothing past U+10FFFF), and how many bytes follow the lead.
struct Utf8Lead {
  unsigned char low, high;
  int continuation_bytes;  // 0: not a lead byte
};

Utf8Lead utf8_lead(unsigned char lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return {0x80, 0xBF, 1};
  if (lead == 0xE0) return {0xA0, 0xBF, 2};
  if (lead == 0xED) return {0x80, 0x9F, 2};
  if (lead >= 0xE1 && lead <= 0xEF) return {0x80, 0xBF, 2};
  if (lead == 0xF0) return {0x90, 0xBF, 3};
  if (lead >= 0xF1 && lead <= 0xF3) return {0x80, 0xBF, 3};
  if (lead == 0xF4) return {0x80, 0x8F, 3};
  return {0, 0, 0};
}

// strtod reads the decimal point of the current locale; JSON's is always '.'.
locale_t c_locale() {
  static const locale_t locale = newlocale(LC_ALL_MASK, "C", nullptr);
  return locale;
}

}  // namespace

void JsonLexer::skip_byte_order_mark() {
  if (text_.substr(pos_, 3) == "\xEF\xBB\xBF") pos_ += 3;
}

bool JsonLexer::fail(const char* what) {
  error_ = {pos_, what};
  return false;
}

bool JsonLexer::handler_stopped() {
  error_ = {pos_, {}};
  return false;
}

bool JsonLexer::read_literal(std::string_view word) {
  if (text_.substr(pos_, word.size()) != word) return fail("expected a JSON value");
  pos_ += word.size();
  return true;
}

bool JsonLexer::read_string(std::string& out) {
  out.clear();
  ++pos_;  // the opening quote
  while (true) {
    std::size_t run_end = pos_;
    while (run_end < text_.size() && kPlainStringByte[static_cast<unsigned char>(text_[run_end])]) ++run_end;
    out.append(text_.data() + pos_, run_end - pos_);
    pos_ = run_end;
    if (at_end()) return fail("the string does not end");
    unsigned char c = static_cast<unsigned char>(text_[pos_]);
    if (c == '"') {
      ++pos_;
      return true;
    }
    if (c == '\\') {
      if (!read_escape(out)) return false;
    } else if (c < 0x20) {
      return fail("a control character in a string must be escaped");
    } else if (!copy_utf8_sequence(out)) {
      return false;
    }
  }
}

bool JsonLexer::copy_utf8_sequence(std::string& out) {
  Utf8Lead lead = utf8_lead(static_cast<unsigned char>(text_[pos_]));
  if (lead.continuation_bytes == 0 || text_.size() - pos_ <= static_cast<std::size_t>(lead.continuation_bytes)) {
    return fail("invalid UTF-8 in a string");
  }
  auto byte = [&](int i) { return static_cast<unsigned char>(text_[pos_ + i]); };
  bool valid = byte(1) >= lead.low && byte(1) <= lead.high;
  for (int i = 2; i <= lead.continuation_bytes; ++i) valid = valid && byte(i) >= 0x80 && byte(i) <= 0xBF;
  if (!valid) return fail("invalid UTF-8 in a string");
  out.append(text_.data() + pos_, 1 + lead.continuation_bytes);
  pos_ += 1 + lead.continuation_bytes;
  return true;
}

bool JsonLexer::read_escape(std::string& out) {
  ++pos_;  // the backslash
  if (at_end()) return fail("the string does not end");
  char c = text_[pos_++];
  switch (c) {
    case '"': out.push_back('"'); return true;
    case '\\': out.push_back('\\'); return true;
    case '/': out.push_back('/'); return true;
    case 'b': out.push_back('\b'); return true;
    case 'f': out.push_back('\f'); return true;
    case 'n': out.push_back('\n'); return true;
    case 'r': out.push_back('\r'); return true;
    case 't': out.push_back('\t'); return true;
    case 'u': break;
    default: --pos_; return fail("invalid escape in a string");
  }
  std::uint32_t code_point = 0;
  if (!read_hex4(code_point)) return false;
  if (code_point >= 0xDC00 && code_point <= 0xDFFF) return fail("a low surrogate escape without a high one before it");
  if (code_point >= 0xD800 && code_point <= 0xDBFF) {
    std::uint32_t low = 0;
    if (text_.substr(pos_, 2) != "\\u") return fail("a high surrogate escape without a low one after it");
    pos_ += 2;
    if (!read_hex4(low)) return false;
    if (low < 0xDC00 || low > 0xDFFF) return fail("a high surrogate escape without a low one after it");
    code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
  }
  append_utf8(out, code_point);
  return true;
}

bool JsonLexer::read_hex4(std::uint32_t& value) {
  if (text_.size() - pos_ < 4) return fail("a \\u escape needs four hex digits");
  auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, value, 16);
  // from_chars would take a sign-less prefix: all four must be hex digits, and it reads no '+' or '-'.
  if (ec != std::errc() || end != text_.data() + pos_ + 4) return fail("a \\u escape needs four hex digits");
  pos_ += 4;
  return true;
}

bool JsonLexer::read_number(Number& kind) {
  std::size_t start = pos_;
  bool negative = take('-');
  if (take('0')) {
  } else if (is_digit(peek())) {
    while (is_digit(peek())) ++pos_;
  } else {
    pos_ = start;
    return fail(at_end() && !negative ? "the text ends where a value should be" : "expected a JSON value");
  }
  bool integral = true;
  if (take('.')) {
    integral = false;
    if (!is_digit(peek())) return fail("expected a digit after the decimal point");
    while (is_digit(peek())) ++pos_;
  }
  if (take('e') || take('E')) {
    integral = false;
    if (!take('+')) take('-');
    if (!is_digit(peek())) return fail("expected a digit in the exponent");
    while (is_digit(peek())) ++pos_;
  }
  const char* first = text_.data() + start;
  const char* last = text_.data() + pos_;
  if (integral && negative && std::from_chars(first, last, integer_).ec == std::errc()) {
    kind = Number::integer;
    return true;
  }
  if (integral && !negative && std::from_chars(first, last, unsigned_).ec == std::errc()) {
    kind = Number::unsigned_integer;
    return true;
  }
  kind = Number::floating;  // as nlohmann does for integers too large for 64 bits
  return read_floating(text_.substr(start, pos_ - start));
}

bool JsonLexer::read_floating(std::string_view token) {
  std::string terminated(token);  // strtod needs the terminating NUL
  floating_ = strtod_l(terminated.c_str(), nullptr, c_locale());
  if (!std::isfinite(floating_)) {
    pos_ -= token.size();
    return fail("a number too large for a double");
  }
  return true;
}

namespace {

// nlohmann's DOM, built from the reader's events, within a budget of heap bytes.
class DomBuilder {
 public:
  explicit DomBuilder(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  nlohmann::json& document() { return document_; }
  bool over_budget() const { return over_budget_; }
  std::size_t bytes() const { return bytes_; }

  bool null() { return place(nullptr, 0); }
  bool boolean(bool value) { return place(value, 0); }
  bool number_integer(std::int64_t value) { return place(value, 0); }
  bool number_unsigned(std::uint64_t value) { return place(value, 0); }
  bool number_float(double value) { return place(value, 0); }
  bool string(std::string& value) { return place(std::move(value), DomCost::string(value.size())); }
  bool key(std::string& name) {
    key_ = std::move(name);
    return true;
  }
  bool start_object() {
    if (!charge(DomCost::object())) return false;
    open_.push_back(&place_ref(nlohmann::json::object()));
    return true;
  }
  bool start_array() {
    if (!charge(DomCost::array())) return false;
    open_.push_back(&place_ref(nlohmann::json::array()));
    return true;
  }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

 private:
  template <class Value>
  bool place(Value&& value, std::size_t own_bytes) {
    if (!charge(own_bytes)) return false;
    place_ref(nlohmann::json(std::forward<Value>(value)));
    return true;
  }

  // The value's own heap and its place in the open container; false once the budget is spent.
  bool charge(std::size_t own_bytes) {
    std::size_t slot = 0;
    std::size_t while_growing = 0;  // an array's old buffer, alive while the elements move to the new one
    if (!open_.empty() && open_.back()->is_object()) slot = DomCost::object_member(key_.size());
    if (!open_.empty() && open_.back()->is_array()) {
      const nlohmann::json::array_t& array = open_.back()->get_ref<const nlohmann::json::array_t&>();
      if (array.size() == array.capacity()) {
        slot = DomCost::array_growth(array.capacity());
        while_growing = sizeof(nlohmann::json) * array.capacity();
      }
    }
    bytes_ += own_bytes + slot;
    over_budget_ = over_budget_ || bytes_ + while_growing > max_bytes_;
    return !over_budget_;
  }

  // Containers' addresses stay put while they are open: their parent takes no other element meanwhile.
  nlohmann::json& place_ref(nlohmann::json value) {
    if (open_.empty()) return document_ = std::move(value);
    nlohmann::json& container = *open_.back();
    if (container.is_array()) {
      container.get_ref<nlohmann::json::array_t&>().push_back(std::move(value));
      return container.get_ref<nlohmann::json::array_t&>().back();
    }
    return container.get_ref<nlohmann::json::object_t&>()[std::move(key_)] = std::move(value);
  }

  bool close() {
    open_.pop_back();
    return true;
  }

  nlohmann::json document_;
  std::vector<nlohmann::json*> open_;
  std::string key_;
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;  // arrays counted by capacity, as the vectors hold them
  bool over_budget_ = false;
};

}  // namespace

std::optional<nlohmann::json> read_json_document(std::string_view text, JsonSyntaxError& error, std::size_t max_dom_bytes,
                                                 std::size_t* dom_bytes) {
  DomBuilder builder(max_dom_bytes);
  bool read = read_json(text, builder, &error);
  if (dom_bytes) *dom_bytes = builder.bytes();
  if (read) return std::move(builder.document());
  error.over_budget = builder.over_budget();
  return std::nullopt;
}

}  // namespace mg
