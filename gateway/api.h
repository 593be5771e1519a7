// The public endpoints: maps method + path to a handler, checks media types, parses requests and starts
// chat exchanges. Errors leave here as OpenAI error objects.
#pragma once

#include <memory>

#include "gateway/chat_exchange.h"
#include "gateway/gateway_state.h"
#include "gateway/http_exchange.h"
#include "gateway/routing_state.h"
#include "gateway/server_config.h"
#include "gateway/usage_reports.h"
#include "providers/local_provider.h"

namespace mg::gateway {

class Api {
 public:
  // `local`: the built-in engine whose counters /health reports; null when it is off.
  Api(ExchangeServices services, const RoutingState& routing, UsageReports* reports, const LocalProvider* local = nullptr);

  // Answers `request` on `channel`, now or later. Call on the channel's executor.
  void handle(HttpRequest request, std::shared_ptr<ResponseChannel> channel);

 private:
  void handle_completion(const HttpRequest& request, ApiFlavor flavor, std::shared_ptr<ResponseChannel> channel);
  HttpReply health() const;
  HttpReply ready() const;
  HttpReply models() const;
  void usage(const HttpRequest& request, std::shared_ptr<ResponseChannel> channel);

  void reject_completion(const HttpRequest& request, const ChatRequest* parsed, const Error& error,
                         const std::shared_ptr<ResponseChannel>& channel);

  ExchangeServices services_;
  const ServerConfig& config_;
  const RoutingState& routing_;
  GatewayState& state_;
  UsageReports* reports_;
  const LocalProvider* local_;
};

// True for "application/json" with any parameters, in any case; an absent type is accepted as JSON.
bool is_json_media_type(std::string_view content_type);

}  // namespace mg::gateway
