// JSON text written directly, without building a DOM first: for the hot spots of the request path (a
// streamed text chunk is the most frequent thing the gateway writes). The output is byte for byte what
// nlohmann's dump() writes (ensure_ascii off), which the tests use as the oracle.
#pragma once

#include <string>
#include <string_view>

namespace mg {

// Appends `text` as a JSON string literal, quotes included. Returns false, with `out` unchanged, when
// `text` is not valid UTF-8 (the caller then takes the slower path that repairs it).
bool append_json_string(std::string& out, std::string_view text);

}  // namespace mg
