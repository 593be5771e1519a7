// The public endpoints: maps method + path to a handler, checks media types and API keys, parses
// requests and starts chat exchanges. Errors leave here as OpenAI error objects. The operator's
// endpoints (/metrics, /dashboard, /admin/keys) are in observability_api.cpp and admin_api.cpp.
#pragma once

#include <memory>
#include <string_view>

#include "gateway/access_control.h"
#include "gateway/chat_exchange.h"
#include "gateway/fleet_limits.h"
#include "gateway/fleet_route_sync.h"
#include "gateway/gateway_state.h"
#include "gateway/http_exchange.h"
#include "gateway/key_admin.h"
#include "gateway/routing_state.h"
#include "gateway/server_config.h"
#include "gateway/usage_reports.h"
#include "providers/local_provider.h"

namespace mg::gateway {

// What the endpoints use besides what exchanges share. Each pointer may be null where a test or a
// configuration has no such part.
struct ApiServices {
  ExchangeServices exchange;
  const RoutingState& routing;
  UsageReports* reports = nullptr;
  const LocalProvider* local = nullptr;
  AccessControl* access = nullptr;  // null: no keys at all (tests of the pieces)
  FleetLimits* fleet = nullptr;     // null: no redis_url, each replica counts alone
  FleetRouteSync* fleet_routes = nullptr;  // likewise
  KeyAdmin* key_admin = nullptr;
  std::int64_t started_at_ms = 0;
};

class Api {
 public:
  explicit Api(ApiServices services);

  // Answers `request` on `channel`, now or later. Call on the channel's executor.
  void handle(HttpRequest request, std::shared_ptr<ResponseChannel> channel);

 private:
  // Who asks for /v1/models or /v1/usage: the operator's view is whole; a client key sees its own usage.
  struct Caller {
    bool operator_view = false;  // the admin key: why routes are unavailable, in full
    AccessControl::KeyRef key;   // null for the operator, or on a gateway without client keys
  };

  // A completion the replica admitted, on its way to its exchange.
  struct PendingCompletion {
    HttpRequest request;
    ClientApi api;
    ChatRequest parsed;
    RoutedRequest routed;
    std::shared_ptr<AccessGrant> grant;
    std::shared_ptr<ResponseChannel> channel;
  };

  void handle_completion(HttpRequest request, ClientApi api, std::shared_ptr<ResponseChannel> channel);
  void count_tokens(const HttpRequest& request, std::shared_ptr<ResponseChannel> channel);
  void admit_in_fleet(const pricing::ApiKeyRecord& key, double worst_case_cost_usd, std::int64_t now_ms, PendingCompletion pending);
  void start_exchange(PendingCompletion pending);
  HttpReply health(const HttpRequest& request) const;
  HttpReply ready() const;
  HttpReply models(const Caller& caller) const;
  void usage(const HttpRequest& request, const Caller& caller, std::shared_ptr<ResponseChannel> channel);
  void reject_completion(const HttpRequest& request, ClientApi api, const ChatRequest* parsed, const std::string& key_id, const Error& error,
                         const std::shared_ptr<ResponseChannel>& channel);

  // observability_api.cpp
  HttpReply metrics() const;
  HttpReply dashboard_page() const;
  HttpReply dashboard_data() const;

  // admin_api.cpp: who may call what. Any key configured (admin, metrics or a client's) closes what a
  // gateway without keys leaves open on its loopback address.
  bool has_any_key() const;
  bool is_admin(const HttpRequest& request) const;
  std::optional<Error> check_admin(const HttpRequest& request) const;
  // /metrics and the detailed /health: the metrics key or the admin key, once any key exists.
  std::optional<Error> check_operator(const HttpRequest& request) const;
  // /v1/models and /v1/usage: a client key once client keys exist, or the admin key (the operator's view).
  Result<Caller> identify_caller(const HttpRequest& request) const;
  void admin_keys(const HttpRequest& request, std::shared_ptr<ResponseChannel> channel);

  ApiServices services_;
  ExchangeServices& exchange_ = services_.exchange;
  const ServerConfig& config_ = services_.exchange.config;
  GatewayState& state_ = services_.exchange.state;
};

// True for "application/json" with any parameters, in any case; an absent type is accepted as JSON.
bool is_json_media_type(std::string_view content_type);

HttpReply json_reply(const nlohmann::json& body, unsigned status = 200);

// The dashboard's page (gateway/dashboard/dashboard.html, embedded at build time).
std::string_view dashboard_html();

}  // namespace mg::gateway
