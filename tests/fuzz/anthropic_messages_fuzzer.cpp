// libFuzzer target: a POST /v1/messages (or count_tokens) body, through parse_anthropic_messages, as
// gateway/api.cpp reads it; the checks are front_door_check.h's.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "formats/anthropic_messages.h"
#include "tests/fuzz/front_door_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  mg::fuzz::check_front_door_parse(body, mg::parse_anthropic_messages(body, mg::AnthropicBody::message));
  mg::fuzz::check_front_door_parse(body, mg::parse_anthropic_messages(body, mg::AnthropicBody::count_tokens));
  return 0;
}
