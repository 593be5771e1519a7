// The admin API: /admin/keys to list (GET), create (POST) and revoke (DELETE /admin/keys/ID) client API
// keys, and the dashboard's data, all behind the admin key; and who may read what else. Without an admin
// key configured the admin API is off (403), and the dashboard's data is open only while the gateway has
// no key of any kind, like /metrics.
#include <boost/asio/any_io_executor.hpp>

#include "gateway/api.h"
#include "gateway/api_key_secrets.h"
#include "gateway/exchange_accounting.h"

namespace mg::gateway {
namespace {

Error admin_error(int status, std::string code, std::string message) {
  return Error{status, FailureClass::auth, "invalid_request_error", std::move(code), {}, std::move(message), 0};
}

// True when the request's bearer token is `key` (never for an empty key).
bool presents(const HttpRequest& request, const std::string& key) {
  if (key.empty()) return false;
  std::optional<std::string_view> token = bearer_token(request.authorization);
  // Digests of equal length, so the comparison's time says nothing of the key, not even its length.
  return token && constant_time_equals(sha256_hex(*token), sha256_hex(key));
}

}  // namespace

bool Api::has_any_key() const {
  return !config_.admin_key.empty() || !config_.metrics_key.empty() || (services_.access && services_.access->auth_required());
}

bool Api::is_admin(const HttpRequest& request) const { return presents(request, config_.admin_key); }

std::optional<Error> Api::check_admin(const HttpRequest& request) const {
  if (is_admin(request)) return std::nullopt;
  if (config_.admin_key.empty()) {
    if (request.path == "/dashboard/data" && !has_any_key()) return std::nullopt;
    return admin_error(403, "admin_api_disabled", "The admin API is off on this gateway");
  }
  return admin_error(401, "invalid_admin_key", "This endpoint needs the admin key: send 'Authorization: Bearer <admin key>'");
}

std::optional<Error> Api::check_operator(const HttpRequest& request) const {
  if (!has_any_key() || is_admin(request) || presents(request, config_.metrics_key)) return std::nullopt;
  return admin_error(401, "invalid_metrics_key", "This endpoint needs the metrics key or the admin key: send 'Authorization: Bearer <key>'");
}

Result<Api::Caller> Api::identify_caller(const HttpRequest& request) const {
  if (is_admin(request)) return Caller{true, {}};
  if (!services_.access || !services_.access->auth_required()) return Caller{false, {}};
  Result<AccessControl::KeyRef> key = services_.access->authenticate(request.authorization);
  if (!key) return key.error();
  return Caller{false, std::move(key).value()};
}

void Api::admin_keys(const HttpRequest& request, std::shared_ptr<ResponseChannel> channel) {
  if (!services_.access || !services_.key_admin) {
    return channel->send_reply(error_reply(Error::unavailable("key administration is not available", config_.no_route_retry_after_s)));
  }
  if (request.method == "GET" || request.method == "HEAD") {
    return channel->send_reply(json_reply({{"object", "list"}, {"data", keys_json(*services_.access, unix_now_ms())}}));
  }
  auto reply = [channel](unsigned status) {
    return [channel, status](Result<nlohmann::json> result) {
      channel->send_reply(result ? json_reply(*result, status) : error_reply(result.error()));
    };
  };
  if (request.method == "DELETE") {
    std::string id = request.path.substr(std::string_view("/admin/keys/").size());
    return services_.key_admin->revoke(std::move(id), channel->executor(), reply(200));
  }
  Result<KeySpec> spec = parse_key_spec(request.body.empty() ? "{}" : request.body);
  if (!spec) return channel->send_reply(error_reply(spec.error()));
  services_.key_admin->create(std::move(spec).value(), channel->executor(), reply(201));
}

}  // namespace mg::gateway
