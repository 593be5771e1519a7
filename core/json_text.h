// JSON text written directly, without building a DOM first: for the hot spots of the request path (a
// streamed text chunk is the most frequent thing the gateway writes). The output is byte for byte what
// nlohmann's dump() writes (ensure_ascii off), which the tests use as the oracle.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace mg {

// Appends `text` as a JSON string literal, quotes included. Returns false, with `out` unchanged, when
// `text` is not valid UTF-8 (the caller then takes the slower path that repairs it).
bool append_json_string(std::string& out, std::string_view text);

// Appends `value` as value.dump(-1, ' ', false, error_handler_t::replace) writes it, byte for byte: keys
// in the DOM's order, no space, invalid UTF-8 replaced. nlohmann's serializer decodes every string a
// byte at a time through a state machine, several times slower.
void append_json(std::string& out, const nlohmann::json& value);

// Appends a number as nlohmann writes it: the shortest digits that read back to it, ".0" on a whole
// number, exponents past 1e15 and below 1e-4 ("1e+16", "1.5e-05"), null when not finite.
void append_json_number(std::string& out, double value);

}  // namespace mg
