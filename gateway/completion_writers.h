// The two writers of one event stream: SSE chunks (stream: true) or one JSON body (stream: false).
// Both take the same ChatEvents; ChunkFormatter owns the OpenAI shapes both emit.
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

// Who is answering: fixed per request (id, created, flavor), updated per attempt (route).
struct ResponseIdentity {
  std::string id;  // "chatcmpl-..." or "cmpl-..."
  std::int64_t created = 0;
  ApiFlavor flavor = ApiFlavor::chat;
  bool include_usage_in_stream = false;
  const RouteTarget* route = nullptr;  // the attempt in progress
  // A resumed stream: what the earlier routes' parts of the answer cost, added to the usage reported.
  UsageReport carried_usage;
  double carried_cost_usd = 0;
};

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
