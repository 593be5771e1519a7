// One chat or completion request from routing to the last byte: walks the route chain, feeds each
// provider's events to the writer on the session's strand, falls back while nothing has reached the
// client, and keeps a waiting stream alive with SSE comments.
#pragma once

#include <memory>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "gateway/completion_writers.h"
#include "gateway/gateway_state.h"
#include "gateway/server_config.h"

namespace mg::gateway {

struct AttemptRecord {
  std::string route;
  Error error;
};

class ChatExchange : public std::enable_shared_from_this<ChatExchange> {
 public:
  ChatExchange(std::shared_ptr<const ChatRequest> request, RoutedRequest routed, std::shared_ptr<ResponseChannel> channel,
               const ServerConfig& config, GatewayState& state, std::string request_id);
  ~ChatExchange();

  ChatExchange(const ChatExchange&) = delete;
  ChatExchange& operator=(const ChatExchange&) = delete;

  // Call on the channel's executor.
  void start();

 private:
  void try_route(std::size_t index);
  void on_event(std::size_t attempt, ChatEvent event);
  void on_attempt_failed(const Error& error);
  void fail_all_routes();
  void arm_keepalive();
  void arm_deadline();
  void fail_cancelled(const Error& error);

  std::shared_ptr<const ChatRequest> request_;
  RoutedRequest routed_;
  const std::vector<RouteTarget>& chain_ = routed_.chain;
  std::shared_ptr<ResponseChannel> channel_;
  const ServerConfig& config_;
  GatewayState& state_;
  RequestContext context_;
  ResponseIdentity identity_;
  std::unique_ptr<CompletionWriter> writer_;
  boost::asio::steady_timer keepalive_timer_;
  boost::asio::steady_timer deadline_timer_;
  bool timed_out_ = false;
  std::size_t current_ = 0;
  bool first_event_seen_ = false;
  std::vector<AttemptRecord> attempts_;
};

}  // namespace mg::gateway
