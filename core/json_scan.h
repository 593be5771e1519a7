// A single pass over JSON text that skips string literals (escapes included), for cheap structural
// questions asked before or beside a full parse: how deep does it nest, where does an element start.
#pragma once

#include <cstddef>
#include <string_view>

namespace mg {

// Calls `on_char(c, offset)` for every character outside string literals (returning false stops the
// scan) and `on_string(raw_content)` as each string literal closes (escapes left as written).
template <class OnChar, class OnString>
void scan_json_structure(std::string_view text, OnChar&& on_char, OnString&& on_string) {
  bool in_string = false;
  bool escaped = false;
  std::size_t string_start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') {
        in_string = false;
        on_string(text.substr(string_start, i - string_start));
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      string_start = i + 1;
      continue;
    }
    if (!on_char(c, i)) return;
  }
}

}  // namespace mg
