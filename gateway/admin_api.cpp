// The admin API: /admin/keys to list (GET), create (POST) and revoke (DELETE /admin/keys/ID) client API
// keys, and the dashboard's data, all behind the admin key. Without an admin key configured the admin
// API is off (403) and the dashboard's data is open, like /metrics.
#include <boost/asio/any_io_executor.hpp>

#include "gateway/api.h"
#include "gateway/api_key_secrets.h"
#include "gateway/exchange_accounting.h"

namespace mg::gateway {
namespace {

Error admin_error(int status, std::string code, std::string message) {
  return Error{status, FailureClass::auth, "invalid_request_error", std::move(code), {}, std::move(message), 0};
}

}  // namespace

std::optional<Error> Api::check_admin(const HttpRequest& request) const {
  const std::string& admin_key = config_.admin_key;
  if (admin_key.empty()) {
    if (request.path == "/dashboard/data") return std::nullopt;
    return admin_error(403, "admin_api_disabled", "The admin API is off: start the gateway with an admin key (admin_key in the config, or MODELGATE_ADMIN_KEY)");
  }
  std::optional<std::string_view> token = bearer_token(request.authorization);
  // Digests of equal length, so the comparison's time says nothing of the admin key, not even its length.
  if (!token || !constant_time_equals(sha256_hex(*token), sha256_hex(admin_key))) {
    return admin_error(401, "invalid_admin_key", "This endpoint needs the admin key: send 'Authorization: Bearer <admin key>'");
  }
  return std::nullopt;
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
