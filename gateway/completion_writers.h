// The two writers of one event stream: SSE events (stream: true) or one JSON body (stream: false), in
// answer_writers.cpp. Both take the same ChatEvents and leave the bytes to the client API's AnswerFormat:
// ChunkFormatter (completion_writers.cpp) owns the OpenAI shapes, gateway/anthropic_answer.cpp and
// gateway/responses_answer.cpp the others.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/http_exchange.h"
#include "gateway/routing_state.h"
#include "core/completion.h"

namespace mg::gateway {

// The API a client spoke: the shapes of its answers and errors. Providers never see it.
enum class ClientApi { openai_chat, openai_completions, anthropic_messages, openai_responses, openai_embeddings };

// Who is answering: fixed per request (id, created, API), updated per attempt (route).
struct ResponseIdentity {
  std::string id;  // "chatcmpl-...", "cmpl-...", "msg_..." or "resp_..."
  std::int64_t created = 0;
  ApiFlavor flavor = ApiFlavor::chat;
  bool include_usage_in_stream = false;
  const RouteTarget* route = nullptr;  // the attempt in progress
  // A resumed stream: what the earlier routes' parts of the answer cost, added to the usage reported.
  UsageReport carried_usage;
  double carried_cost_usd = 0;
  ClientApi api = ClientApi::openai_chat;
  std::int64_t estimated_prompt_tokens = 0;  // for what must be said before the route reports usage
  EmbeddingEncoding embedding_encoding = EmbeddingEncoding::float_array;  // of an embeddings answer
};

// What the client is billed for a route's usage: it, plus what earlier routes of a resumed stream carried,
// and the cost of both.
std::pair<UsageReport, double> billed_usage(const ResponseIdentity& identity, const UsageReport& route_usage);

// Builds the OpenAI JSON objects: stream chunks, final completions, usage and in-band errors.
class ChunkFormatter {
 public:
  explicit ChunkFormatter(const ResponseIdentity& identity) : identity_(identity) {}

  // The chunk for one streamed event, or nullopt when the event has no chunk of its own.
  std::optional<nlohmann::json> chunk(const ChatEvent& event);
  // The same as an SSE event ("data: ...\n\n"), or '' for none. A chat stream's events are written
  // directly, without the DOM; the output is the same.
  std::string sse_chunk(const ChatEvent& event);
  nlohmann::json error_chunk(const Error& error) const;
  nlohmann::json completion(const Completion& completion) const;
  // completion() as text; the common case written directly, without the DOM (the same bytes).
  std::string completion_text(const Completion& completion) const;
  nlohmann::json usage(const UsageReport& usage) const;

 private:
  nlohmann::json envelope(bool is_chunk) const;
  nlohmann::json chunk_with_choice(int choice, nlohmann::json delta, const char* finish_reason);
  nlohmann::json text_choice(int choice, const std::string& text, const char* finish_reason) const;
  std::pair<UsageReport, double> billed(const UsageReport& route_usage) const;
  std::optional<std::string> direct_sse(const ChatEvent& event);
  std::optional<std::string> text_delta_sse(const TextDelta& delta);
  std::optional<std::string> finish_sse(const ChoiceFinished& finished);
  std::optional<std::string> usage_sse(const UsageReport& route_usage) const;
  void append_usage(std::string& out, const UsageReport& route_usage) const;
  std::optional<std::string> envelope_fields(const char* object) const;
  std::optional<std::string> direct_completion(const Completion& completion) const;
  std::string end_choice_chunk(std::string out, int choice, std::string_view last_fields = {}) const;
  bool take_role(int choice);  // true once per choice: its first delta carries the role
  const std::optional<std::string>& chunk_envelope_tail();

  const ResponseIdentity& identity_;
  std::vector<bool> role_sent_;  // per choice: the first chat delta carries role "assistant"
  bool tail_made_ = false;
  const RouteTarget* tail_route_ = nullptr;
  std::optional<std::string> tail_;  // envelope_fields() of a chunk, for tail_route_
};

// One client API's bytes for an answer, streamed or whole. A format may keep state across a stream's
// events (which blocks are open, what is still to come).
class AnswerFormat {
 public:
  virtual ~AnswerFormat() = default;
  // The SSE bytes for one event of the answer (not StreamDone, StreamFailed or UpstreamComment); '' when
  // it has none, or none yet.
  virtual std::string stream_event(const ChatEvent& event) = 0;
  virtual std::string stream_end() = 0;                      // a complete stream's last bytes
  virtual std::string stream_failure(const Error& error) = 0;  // a broken stream's last bytes: never a clean-looking end
  virtual Result<std::string> whole(const Completion& completion) = 0;  // the body of a whole answer
};

// The format for identity.api; it reads `identity`, which must outlive it.
std::unique_ptr<AnswerFormat> make_answer_format(const ResponseIdentity& identity);
// OpenAI's chat and completions streams (one data chunk per event, usage when asked for, [DONE]), as
// ChunkFormatter writes them.
std::unique_ptr<AnswerFormat> make_openai_format(const ResponseIdentity& identity);

// An error answered before the first byte, in the API's own error shape.
HttpReply error_reply_for(ClientApi api, const Error& error);

class CompletionWriter {
 public:
  virtual ~CompletionWriter() = default;
  virtual void begin_attempt() = 0;            // a new route starts: drop what an abandoned attempt left
  virtual void write(const ChatEvent& event) = 0;
  virtual void keepalive() = 0;                // nothing to say yet, but the client should know we are alive
  virtual void fail(const Error& error) = 0;   // the request ends in this error
  virtual bool committed() const = 0;          // the client has seen bytes: failures can no longer fall back
  virtual bool finished() const = 0;
};

std::unique_ptr<CompletionWriter> make_sse_writer(std::shared_ptr<ResponseChannel> channel, const ResponseIdentity& identity);
std::unique_ptr<CompletionWriter> make_json_writer(std::shared_ptr<ResponseChannel> channel, const ResponseIdentity& identity);

// The headers every completion response carries: the route that answered.
std::vector<std::pair<std::string, std::string>> route_headers(const ResponseIdentity& identity);

}  // namespace mg::gateway
