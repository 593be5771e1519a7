// OpenAI's embeddings API (POST /v1/embeddings), on both sides of the gateway: a client's body into the
// one request type (flavor embedding), that request as an upstream's body, the upstream's answer into
// EmbeddingVector events, and the answer the client gets back, its vectors as numbers or base64.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/chat_event.h"
#include "core/chat_request.h"
#include "core/completion.h"
#include "core/result.h"
#include "formats/answer_decoder.h"
#include "formats/openai_wire.h"

namespace mg {

// The most inputs one request may embed (OpenAI's limit), and the most token ids one token-array input may
// hold here: a bound on memory, far above any model's context (OpenAI's is 8192 tokens an input).
inline constexpr std::size_t kMaxEmbeddingInputs = 2048;
inline constexpr std::size_t kMaxEmbeddingInputTokens = 1'000'000;

// Parses an embeddings body: `model`, `input` (a string, an array of strings, an array of token ids or
// an array of those), `encoding_format`, `dimensions`, `user`, and the gateway's `models` and
// `provider`. Other fields pass on to the upstream as sent.
Result<ChatRequest> parse_embedding_request(std::string_view body, const JsonLimits& limits = {}, std::size_t* parsed_bytes = nullptr);

// The body an OpenAI-compatible upstream's /embeddings takes (`model` still to be set).
nlohmann::json to_openai_embedding_json(const ChatRequest& request);

// An upstream's embeddings answer into one EmbeddingVector per input (numbers or base64 alike), then its
// UsageReport (`estimated_prompt_tokens` when it reports none) and StreamDone; or one StreamFailed when
// the answer is malformed or does not hold exactly one vector for each of `input_count` inputs.
void decode_embedding_answer(std::string_view body, std::size_t input_count, std::int64_t estimated_prompt_tokens, std::vector<ChatEvent>& out);

// decode_embedding_answer as an upstream call's decoder: an embeddings answer is one JSON body, and an
// event stream in its place fails.
class EmbeddingAnswerDecoder final : public AnswerDecoder {
 public:
  EmbeddingAnswerDecoder(std::size_t input_count, std::int64_t estimated_prompt_tokens)
      : input_count_(input_count), estimated_prompt_tokens_(estimated_prompt_tokens) {}

  void on_stream_data(std::string_view data, std::vector<ChatEvent>& out) override;
  void on_stream_end(std::vector<ChatEvent>& out) override;
  void on_body(std::string_view body, std::vector<ChatEvent>& out) override;

 private:
  std::size_t input_count_;
  std::int64_t estimated_prompt_tokens_;
  bool finished_ = false;
};

// The client's answer: {"object":"list","data":[{"object":"embedding","index","embedding"}],"model","usage"},
// usage with OpenRouter's `cost`, as the chat answers carry it.
std::string embedding_list_json(const std::vector<std::vector<double>>& vectors, EmbeddingEncoding encoding, std::string_view model,
                                const UsageReport& usage, double cost_usd);

// Float32 vectors as base64, little-endian (OpenAI's encoding_format "base64"), and back. A string that is
// not base64 of whole float32s gives an error.
std::string float32_base64(const std::vector<double>& values);
Result<std::vector<double>> float32_from_base64(std::string_view text);

}  // namespace mg
