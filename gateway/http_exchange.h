// What handlers see of HTTP: a parsed request and a channel to answer on. Keeps Beast inside the session,
// so handlers and writers are plain code that tests can drive without sockets.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <nlohmann/json.hpp>

#include "core/cancellation.h"
#include "core/result.h"

namespace mg::gateway {

struct HttpRequest {
  std::string method;        // "GET", "POST", ...
  std::string path;          // target without the query string
  std::string query;         // after '?', undecoded
  std::string content_type;  // as sent, may be empty
  std::string body;
  std::string request_id;    // the client's x-request-id or a generated one
  std::string authorization; // the Authorization header, a secret: never log it
  std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();  // once read whole
};

struct HttpReply {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type and x-request-id
};

// The answer side of one request. Call it only on executor() (the session's strand). Exactly one of
// send_reply() or start_stream() ... end_stream() answers a request; calls after the client left are no-ops.
class ResponseChannel {
 public:
  virtual ~ResponseChannel() = default;

  virtual void send_reply(HttpReply reply) = 0;
  // Status and headers, with the stream's first bytes as `head.body` (they leave together); more follow.
  virtual void start_stream(HttpReply head) = 0;
  virtual void write_stream(std::string bytes) = 0;
  virtual void end_stream() = 0;
  virtual bool stream_started() const = 0;

  // Counts `bytes` the parsed request holds while it is answered against the memory all requests may
  // hold (http.max_buffered_body_bytes), released with the answer; the error (503) when over it.
  virtual std::optional<Error> hold_parsed_bytes(std::size_t /*bytes*/) { return std::nullopt; }

  virtual const CancellationToken& cancellation() const = 0;  // cancelled when the client goes away
  virtual boost::asio::any_io_executor executor() const = 0;
};

// JSON text for the wire. Invalid UTF-8 that reached a string (say, from an upstream) is replaced with
// U+FFFD instead of throwing, so serialising can never fail inside a handler.
std::string to_json_text(const nlohmann::json& value);

// An OpenAI error object reply: {"error": {"message", "type", "param", "code"}}, with Retry-After if set.
HttpReply error_reply(const Error& error);
std::string error_json(const Error& error);

}  // namespace mg::gateway
