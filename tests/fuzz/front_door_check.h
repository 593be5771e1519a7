// What every front-door parser of a newer client API must hold, for its fuzz target: nlohmann::json is
// the oracle for JSON (a body it rejects is refused with a 400 invalid_request_error that says why; a
// body the parser accepts, nlohmann accepts too), and an accepted body gives a request whose OpenAI
// form (what a chat upstream receives) is itself a valid request.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "core/chat_request.h"
#include "core/result.h"
#include "formats/openai_wire.h"
#include "tests/fuzz/fuzz_check.h"

namespace mg::fuzz {

inline void check_front_door_parse(std::string_view body, const Result<ChatRequest>& parsed) {
  bool valid_json = nlohmann::json::accept(body.begin(), body.end()) && body.find('\0') == std::string_view::npos;
  if (!parsed) {
    FUZZ_CHECK(parsed.error().http_status == 400);
    FUZZ_CHECK(parsed.error().type == "invalid_request_error");
    FUZZ_CHECK(!parsed.error().message.empty());
    return;
  }
  FUZZ_CHECK(valid_json);
  const ChatRequest& request = parsed.value();
  FUZZ_CHECK(!request.requested_models().empty());
  FUZZ_CHECK(!request.messages.empty());
  FUZZ_CHECK(request.flavor == ApiFlavor::chat && request.n == 1);
  Result<ChatRequest> as_openai = parse_chat_request(to_openai_json(request).dump(), ApiFlavor::chat);
  FUZZ_CHECK(as_openai.ok());
  FUZZ_CHECK(as_openai->messages.size() == request.messages.size());
}

}  // namespace mg::fuzz
