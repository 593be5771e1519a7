#include "core/json_text.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <utility>

namespace mg {
namespace {

// The length of the valid UTF-8 sequence starting at `at`, or 0 (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence_length(std::string_view text, std::size_t at) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  auto continuation = [&](std::size_t i) { return i < text.size() && (byte(i) & 0xC0) == 0x80; };
  unsigned char lead = byte(at);
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return continuation(at + 1) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (!continuation(at + 1) || !continuation(at + 2)) return 0;
    unsigned char second = byte(at + 1);
    if (lead == 0xE0 && second < 0xA0) return 0;  // overlong
    if (lead == 0xED && second > 0x9F) return 0;  // surrogate
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (!continuation(at + 1) || !continuation(at + 2) || !continuation(at + 3)) return 0;
    unsigned char second = byte(at + 1);
    if (lead == 0xF0 && second < 0x90) return 0;  // overlong
    if (lead == 0xF4 && second > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

bool append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t start = out.size();
  out.reserve(start + text.size() + 2);
  out += '"';
  for (std::size_t at = 0; at < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[at]);
    if (c >= 0x80) {
      std::size_t length = utf8_sequence_length(text, at);
      if (length == 0) {
        out.resize(start);
        return false;
      }
      out.append(text.substr(at, length));
      at += length;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++at;
  }
  out += '"';
  return true;
}

namespace {

template <class Integer>
void append_integer(std::string& out, Integer value) {
  char digits[24];
  auto [end, ignored] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, end);
}

std::string dumped(const nlohmann::json& value) { return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

// A key or string value. One with invalid UTF-8 is rare: nlohmann writes it, repairs and all.
void append_string_or_repair(std::string& out, const std::string& text) {
  if (!append_json_string(out, text)) out += dumped(nlohmann::json(text));
}

}  // namespace

void append_json_number(std::string& out, double value) {
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  char digits[64];
  // nlohmann's own routine (Grisu2 and its layout rules): the same digits as its dump(), by construction.
  char* end = nlohmann::detail::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, end);
}

void append_json(std::string& out, const nlohmann::json& value) {
  using Type = nlohmann::json::value_t;
  switch (value.type()) {
    case Type::object: {
      out += '{';
      bool first = true;
      for (auto member = value.begin(); member != value.end(); ++member) {
        if (!std::exchange(first, false)) out += ',';
        append_string_or_repair(out, member.key());
        out += ':';
        append_json(out, member.value());
      }
      out += '}';
      return;
    }
    case Type::array: {
      out += '[';
      bool first = true;
      for (const nlohmann::json& element : value) {
        if (!std::exchange(first, false)) out += ',';
        append_json(out, element);
      }
      out += ']';
      return;
    }
    case Type::string: return append_string_or_repair(out, value.get_ref<const std::string&>());
    case Type::boolean: out += value.get<bool>() ? "true" : "false"; return;
    case Type::number_integer: return append_integer(out, value.get<std::int64_t>());
    case Type::number_unsigned: return append_integer(out, value.get<std::uint64_t>());
    case Type::number_float: return append_json_number(out, value.get<double>());
    case Type::null: out += "null"; return;
    default: out += dumped(value); return;  // binary, discarded: never read from JSON text
  }
}

}  // namespace mg
