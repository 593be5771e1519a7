// libFuzzer target: the embeddings API's untrusted bytes on both sides. Each input is read as a client's
// POST /v1/embeddings body (parse_embedding_request; nlohmann::json the oracle, and the upstream's `input`
// must be the body's own) and as an upstream's answer (decode_embedding_answer: one vector per input, in
// order, then usage and the end; or one failure).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "formats/openai_embeddings.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

void check_client_body(std::string_view body) {
  mg::Result<mg::ChatRequest> parsed = mg::parse_embedding_request(body);
  if (!parsed) {
    FUZZ_CHECK(parsed.error().http_status == 400);
    FUZZ_CHECK(parsed.error().type == "invalid_request_error");
    FUZZ_CHECK(!parsed.error().message.empty());
    return;
  }
  FUZZ_CHECK(body.find('\0') == std::string_view::npos);
  nlohmann::json oracle = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  FUZZ_CHECK(!oracle.is_discarded() && oracle.is_object());
  const mg::EmbeddingInput& input = parsed->embedding_input;
  FUZZ_CHECK(input.count() >= 1 && input.count() <= mg::kMaxEmbeddingInputs);
  FUZZ_CHECK(input.texts.empty() != input.token_arrays.empty());
  nlohmann::json upstream = mg::to_openai_embedding_json(*parsed);
  if (!oracle["input"].is_null()) FUZZ_CHECK(upstream["input"] == oracle["input"]);  // a later null is skipped, as OpenAI does
}

void check_upstream_answer(std::string_view body, std::size_t inputs) {
  std::vector<mg::ChatEvent> events;
  mg::decode_embedding_answer(body, inputs, 7, events);
  FUZZ_CHECK(!events.empty());
  if (std::holds_alternative<mg::StreamFailed>(events.back())) {
    FUZZ_CHECK(events.size() == 1);
    return;
  }
  FUZZ_CHECK(events.size() == inputs + 2);
  for (std::size_t i = 0; i < inputs; ++i) {
    const auto* vector = std::get_if<mg::EmbeddingVector>(&events[i]);
    FUZZ_CHECK(vector && vector->index == static_cast<int>(i) && !vector->values.empty());
  }
  FUZZ_CHECK(std::holds_alternative<mg::UsageReport>(events[inputs]));
  FUZZ_CHECK(std::holds_alternative<mg::StreamDone>(events[inputs + 1]));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  check_client_body(bytes);
  check_upstream_answer(bytes, 1 + size % 3);
  return 0;
}
