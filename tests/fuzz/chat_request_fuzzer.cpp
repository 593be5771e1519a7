// libFuzzer target: a /v1/chat/completions or /v1/completions request body, through parse_chat_request,
// the function the gateway's Api turns every body into a ChatRequest with (gateway/api.cpp). Each input is
// parsed as both flavors. A body that parses must give OpenAI JSON (what an upstream receives) that
// parses again to the same request; one that does not must say why as a 400 invalid_request_error.
// The gateway's JSON document reader (parse_json_document, simdjson On-Demand into a DOM) is checked
// against nlohmann::json::parse, its oracle: the same bodies accepted, the same documents read (a NUL
// byte aside: nlohmann ends its input there, the reader rejects); and the JSON writer against nlohmann's
// dump(): the same text written back.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/json_text.h"
#include "formats/openai_wire.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/support/json_samples.h"

namespace {

void check_reader_against_nlohmann(std::string_view body) {
  mg::Result<nlohmann::json> ours = mg::parse_json_document(body);
  if (body.find('\0') != std::string_view::npos) {
    FUZZ_CHECK(!ours);
    return;
  }
  std::optional<nlohmann::json> theirs;
  try {
    theirs = nlohmann::json::parse(body.begin(), body.end());
  } catch (const nlohmann::json::exception&) {
  }
  if (!ours && ours.error().code == "json_too_deep") return;  // nlohmann has no depth bound
  FUZZ_CHECK(ours.ok() == theirs.has_value());
  FUZZ_CHECK(ours || !ours.error().message.empty());
  if (!ours) return;
  FUZZ_CHECK(mg::test::identical_json(*ours, *theirs));
  std::string written;
  mg::append_json(written, *ours);  // the gateway's writer, against nlohmann's dump
  FUZZ_CHECK(written == ours->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void check_one_flavor(std::string_view body, mg::ApiFlavor flavor) {
  mg::Result<mg::ChatRequest> parsed = mg::parse_chat_request(body, flavor);
  if (!parsed) {
    FUZZ_CHECK(parsed.error().http_status == 400);
    FUZZ_CHECK(parsed.error().type == "invalid_request_error");
    FUZZ_CHECK(!parsed.error().message.empty());
    return;
  }
  const mg::ChatRequest& request = *parsed;
  FUZZ_CHECK(!request.requested_models().empty());
  FUZZ_CHECK(request.estimated_prompt_tokens() >= 0);
  FUZZ_CHECK(flavor != mg::ApiFlavor::chat || !request.messages.empty());
  FUZZ_CHECK(request.n >= 1 && request.n <= 128);

  // What an upstream receives is itself a valid request, and the same one.
  nlohmann::json wire = mg::to_openai_json(request);
  std::string text = wire.dump();
  mg::Result<mg::ChatRequest> again = mg::parse_chat_request(text, flavor);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(mg::to_openai_json(*again) == wire);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  check_reader_against_nlohmann(body);
  check_one_flavor(body, mg::ApiFlavor::chat);
  check_one_flavor(body, mg::ApiFlavor::completion);
  return 0;
}
