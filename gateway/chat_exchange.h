// One chat or completion request from routing to the last byte: walks the route chain, feeds each
// provider's events to the writer on the session's strand, falls back while nothing has been promised
// to the client, keeps a waiting stream alive with SSE comments, enforces the request deadline, and
// leaves one ledger row and a statistics sample per attempt. With resume on, a stream that breaks after
// its first byte continues on the next route from the text already sent.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "gateway/access_control.h"
#include "gateway/completion_writers.h"
#include "gateway/exchange_accounting.h"
#include "gateway/gateway_state.h"
#include "gateway/request_observers.h"
#include "gateway/server_config.h"
#include "core/deadline.h"

namespace mg::gateway {

// What exchanges share: configuration, counters, the live statistics, and where concluded requests go.
struct ExchangeServices {
  const ServerConfig& config;
  GatewayState& state;
  pricing::LiveStats& live_stats;
  CircuitBreakers& circuits;
  RequestObservers observers;
};

// Who asked: the request's id, when it was read, and its hold on its API key.
struct ExchangeOrigin {
  std::string request_id;
  SteadyTime received;
  AccessGrant grant;
  ClientApi api = ClientApi::openai_chat;
};

class ChatExchange : public std::enable_shared_from_this<ChatExchange> {
 public:
  ChatExchange(std::shared_ptr<const ChatRequest> request, RoutedRequest routed, std::shared_ptr<ResponseChannel> channel,
               ExchangeServices services, ExchangeOrigin origin);
  ~ChatExchange();

  ChatExchange(const ChatExchange&) = delete;
  ChatExchange& operator=(const ChatExchange&) = delete;

  // Call on the channel's executor.
  void start();

 private:
  void try_next_route(std::size_t index);
  std::optional<std::size_t> next_open_route(std::size_t index);
  void try_route(std::size_t index);
  std::optional<std::chrono::milliseconds> retry_delay(const Error& error) const;
  void retry_after(std::chrono::milliseconds delay);
  EventSink inbox_sink(std::size_t attempt);
  void take_inbox();
  void on_event(std::size_t attempt, ChatEvent event);
  void on_attempt_failed(const Error& error);
  void note_content(const ChatEvent& event);
  bool can_resume(const Error& error) const;
  void resume(const Error& error);
  void fail_cancelled(const Error& error);
  void fail_all_routes();
  void fail(const Error& error);
  void conclude(const Error* error, bool partly_answered);
  void end_attempt(std::optional<Error> error);
  void arm_keepalive();
  void arm_deadline();

  std::shared_ptr<const ChatRequest> request_;
  RoutedRequest routed_;
  const std::vector<RouteTarget>& chain_ = routed_.chain;
  std::shared_ptr<ResponseChannel> channel_;
  ExchangeServices services_;
  const ServerConfig& config_;
  RequestContext context_;
  ResponseIdentity identity_;
  std::unique_ptr<CompletionWriter> writer_;
  Deadline keepalive_;         // the next keep-alive comment, while a stream waits for its first event
  Deadline request_deadline_;  // the whole answer's
  boost::asio::steady_timer retry_timer_;
  int retries_on_route_ = 0;
  std::size_t current_ = 0;
  bool timed_out_ = false;
  bool concluded_ = false;
  SteadyTime arrival_;
  std::int64_t arrival_unix_ms_;
  AccessGrant grant_;
  std::optional<SteadyTime> first_byte_to_client_;
  std::vector<AttemptRecord> attempts_;
  std::mutex inbox_mutex_;
  std::vector<std::pair<std::size_t, ChatEvent>> inbox_;  // (attempt, event), not yet taken to the strand
  bool resume_enabled_;
  bool streamed_tool_calls_ = false;
  bool answer_finished_ = false;     // a finish_reason has reached the client
  std::string streamed_text_;        // what the client has of the answer, when a resume may need it
  std::string last_streaming_route_;  // the route whose deltas the client saw last
};

}  // namespace mg::gateway
