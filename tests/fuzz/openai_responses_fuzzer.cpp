// libFuzzer target: a POST /v1/responses body, through parse_openai_responses, as gateway/api.cpp reads
// it; the checks are front_door_check.h's.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "formats/openai_responses.h"
#include "tests/fuzz/front_door_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  mg::fuzz::check_front_door_parse(body, mg::parse_openai_responses(body));
  return 0;
}
