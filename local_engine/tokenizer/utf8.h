// UTF-8 read exactly as SentencePiece reads it (its util.cc): the normalizer uses these rules to replace
// malformed input with U+FFFD, and the decoder to turn byte-fallback pieces back into characters. Both
// sides of the tokenizer share them, so encode and decode agree on what "invalid" means.
#pragma once

#include <cstddef>
#include <string_view>

namespace mg::engine::utf8 {

inline constexpr std::string_view replacement_character = "\xEF\xBF\xBD";  // U+FFFD

// Bytes of the character that `lead` starts, judged by the lead byte alone (SentencePiece's OneCharLen):
// 1 for ASCII and for bytes that cannot start a character. Only meaningful on valid UTF-8.
constexpr std::size_t length_from_lead(unsigned char lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

// Bytes a strict decoder needs to judge the character at a lead byte: 1 for ASCII and for bytes that are
// invalid as a lead (continuation bytes, 0xF8..0xFF), else 2..4.
constexpr std::size_t bytes_needed(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

struct CharRead {
  std::size_t length;  // bytes consumed: the whole character, or 1 when invalid
  bool valid;
};

// Reads the character at the start of non-empty `text`. Invalid (and then one byte long): a byte that
// cannot lead, a character cut short by the end of `text`, a continuation byte missing, an overlong form,
// a surrogate, or a code point past U+10FFFF.
inline CharRead read_char(std::string_view text) {
  constexpr CharRead invalid{1, false};
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const auto is_continuation = [&](std::size_t i) { return (byte(i) & 0xC0) == 0x80; };
  const std::size_t length = bytes_needed(byte(0));
  if (length == 1) return CharRead{1, byte(0) < 0x80};
  if (text.size() < length) return invalid;
  // The lead's payload bits, then six bits from each continuation byte.
  char32_t code_point = byte(0) & (0x7F >> length);
  for (std::size_t i = 1; i < length; ++i) {
    if (!is_continuation(i)) return invalid;
    code_point = (code_point << 6) | (byte(i) & 0x3F);
  }
  constexpr char32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};  // below these a form is overlong
  const bool surrogate = code_point >= 0xD800 && code_point < 0xE000;
  if (code_point < smallest[length] || surrogate || code_point > 0x10FFFF) return invalid;
  return CharRead{length, true};
}

}  // namespace mg::engine::utf8
