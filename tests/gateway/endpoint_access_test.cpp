// Who may read what, through the real server: every /v1 path needs a key once keys exist, a client key
// sees only its own usage, a refused model is refused before routing, /metrics and the detailed /health
// take the metrics key or the admin key, and what a client is told never names the operator's config.
#include <thread>

#include <gtest/gtest.h>

#include "gateway/key_admin.h"

#include "tests/support/sqlite_lock_holder.h"
#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kMetricsKey = "test-metrics-key-0123456789abcdef";

void with_admin_key(gateway::ServerConfig& config) { config.admin_key = kTestAdminKey; }

std::optional<RawResponse> get_with(TestGateway& gateway, const std::string& path, const std::string& token) {
  return http_request(gateway.port(), "GET", path, "", {{"Authorization", "Bearer " + token}});
}

void expect_status(const std::optional<RawResponse>& response, int status, const std::string& code = {}) {
  ASSERT_TRUE(response) << "no response";
  EXPECT_EQ(response->status, status) << response->body;
  if (!code.empty()) {
    EXPECT_EQ(json::parse(response->body)["error"]["code"], code) << response->body;
  }
}

// The usage groups a caller sees, by group name.
std::map<std::string, json> usage_groups(const std::optional<RawResponse>& response) {
  std::map<std::string, json> groups;
  if (!response || response->status != 200) {
    ADD_FAILURE() << (response ? response->body : "no response");
    return groups;
  }
  json body = json::parse(response->body);
  for (const json& row : body["data"]) groups[row["group"].get<std::string>()] = row;
  return groups;
}

TEST(EndpointAccessTest, AKeyLimitedToEchoIsRefusedAnUnconfiguredModelWith403) {
  TestGateway gateway(with_admin_key);
  json limited = create_key_as_admin(gateway, {{"name", "echo-only"}, {"allowed_models", {"echo"}}});
  // mistral-7b-instruct's routes all lack a provider key here: routing would fail with 503.
  std::optional<RawResponse> refused = gateway.post("/v1/chat/completions", chat_body("mistral-7b-instruct", "hi"), bearer(limited["key"]));
  expect_status(refused, 403, "model_not_allowed");
  EXPECT_EQ(refused->body.find("API_KEY"), std::string::npos) << refused->body;
  // The fallback list is checked as well, before any route is tried.
  json with_fallback = chat_body("echo", "hi");
  with_fallback["models"] = {"echo", "mistral-7b-instruct"};
  expect_status(gateway.post("/v1/chat/completions", with_fallback, bearer(limited["key"])), 403, "model_not_allowed");
}

TEST(EndpointAccessTest, AnUnconfiguredRouteIsNamedWithoutTheOperatorsConfig) {
  TestGateway gateway(with_admin_key);
  json key = create_key_as_admin(gateway, {{"name", "any-model"}});
  std::optional<RawResponse> unavailable = gateway.post("/v1/chat/completions", chat_body("mistral-7b-instruct", "hi"), bearer(key["key"]));
  expect_status(unavailable, 503);
  EXPECT_NE(unavailable->body.find("not configured on this gateway"), std::string::npos) << unavailable->body;
  EXPECT_EQ(unavailable->body.find("API_KEY"), std::string::npos) << unavailable->body;
  EXPECT_EQ(unavailable->body.find("providers."), std::string::npos) << unavailable->body;

  std::optional<RawResponse> as_client = get_with(gateway, "/v1/models", key["key"]);
  expect_status(as_client, 200);
  EXPECT_NE(as_client->body.find("not configured on this gateway"), std::string::npos);
  EXPECT_EQ(as_client->body.find("API_KEY"), std::string::npos) << "a client sees no environment variable";
  // The operator sees why, in full.
  std::optional<RawResponse> as_admin = get_with(gateway, "/v1/models", kTestAdminKey);
  expect_status(as_admin, 200);
  EXPECT_NE(as_admin->body.find("DEEPINFRA_API_KEY"), std::string::npos);
}

TEST(EndpointAccessTest, EveryV1PathNeedsAKeyOnceKeysExist) {
  TestGateway gateway(with_admin_key);
  EXPECT_EQ(gateway.get("/v1/models")->status, 200) << "no client key yet: open on loopback";
  json key = create_key_as_admin(gateway, {{"name", "team-a"}});
  expect_status(gateway.get("/v1/models"), 401, "invalid_api_key");
  expect_status(gateway.get("/v1/usage"), 401, "invalid_api_key");
  expect_status(gateway.get("/v1/usage?group_by=key"), 401, "invalid_api_key");
  expect_status(get_with(gateway, "/v1/usage", "sk-not-a-key"), 401, "invalid_api_key");
  expect_status(get_with(gateway, "/v1/models", key["key"]), 200);
  expect_status(get_with(gateway, "/v1/usage", key["key"]), 200);
}

TEST(EndpointAccessTest, AClientKeySeesOnlyItsOwnUsageAndTheAdminSeesAll) {
  TestGateway gateway(with_admin_key);
  json a = create_key_as_admin(gateway, {{"name", "a"}});
  json b = create_key_as_admin(gateway, {{"name", "b"}});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(gateway.post("/v1/chat/completions", chat_body("echo", "from a"), bearer(a["key"]))->status, 200);
  EXPECT_EQ(gateway.post("/v1/chat/completions", chat_body("echo", "from b"), bearer(b["key"]))->status, 200);
  gateway.gateway().recorder().flush();

  std::map<std::string, json> seen_by_a = usage_groups(get_with(gateway, "/v1/usage?group_by=key", a["key"]));
  ASSERT_EQ(seen_by_a.size(), 1u);
  EXPECT_EQ(seen_by_a.begin()->first, a["id"]);
  EXPECT_EQ(seen_by_a.begin()->second["requests"], 3);
  std::map<std::string, json> by_model_for_b = usage_groups(get_with(gateway, "/v1/usage", b["key"]));
  ASSERT_EQ(by_model_for_b.size(), 1u);
  EXPECT_EQ(by_model_for_b["echo"]["requests"], 1);

  std::map<std::string, json> seen_by_admin = usage_groups(get_with(gateway, "/v1/usage?group_by=key", kTestAdminKey));
  EXPECT_EQ(seen_by_admin.size(), 2u);
  EXPECT_EQ(seen_by_admin[a["id"].get<std::string>()]["requests"], 3);
  EXPECT_EQ(seen_by_admin[b["id"].get<std::string>()]["requests"], 1);
}

TEST(EndpointAccessTest, MetricsTakeTheMetricsKeyOrTheAdminKey) {
  TestGateway gateway([](gateway::ServerConfig& config) {
    config.admin_key = kTestAdminKey;
    config.metrics_key = kMetricsKey;
  });
  json key = create_key_as_admin(gateway, {{"name", "client"}});
  EXPECT_EQ(gateway.post("/v1/chat/completions", chat_body("echo", "hi"), bearer(key["key"]))->status, 200);
  expect_status(gateway.get("/metrics"), 401, "invalid_metrics_key");
  expect_status(get_with(gateway, "/metrics", key["key"]), 401, "invalid_metrics_key");
  expect_status(get_with(gateway, "/dashboard/data", kMetricsKey), 401, "invalid_admin_key");
  std::optional<RawResponse> scraped = get_with(gateway, "/metrics", kMetricsKey);
  expect_status(scraped, 200);
  EXPECT_NE(scraped->body.find(key["id"].get<std::string>()), std::string::npos) << "the scraper sees spend by key";
  expect_status(get_with(gateway, "/metrics", kTestAdminKey), 200);
}

TEST(EndpointAccessTest, WithClientKeysAndNoOtherKeyMetricsAndTheDashboardAreClosed) {
  TestGateway gateway([](gateway::ServerConfig& config) { config.catalogue_poll_interval = 50ms; });
  EXPECT_EQ(gateway.get("/metrics")->status, 200) << "a gateway without keys is open on loopback";
  pricing::Database db = pricing::Database::open(gateway.config().db_path);  // as `modelgate keys create` does
  gateway::CreatedKey created = gateway::create_api_key(db, gateway::KeySpec{"cli", {}}, 0);
  register_test_secret(created.key);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (gateway.get("/metrics")->status == 200 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  expect_status(gateway.get("/metrics"), 401, "invalid_metrics_key");
  expect_status(gateway.get("/dashboard/data"), 403, "admin_api_disabled");
  expect_status(get_with(gateway, "/dashboard/data", created.key), 403, "admin_api_disabled");
}

TEST(EndpointAccessTest, HealthIsLivenessForAnyoneAndDetailForTheOperator) {
  TestGateway gateway([](gateway::ServerConfig& config) {
    config.admin_key = kTestAdminKey;
    config.metrics_key = kMetricsKey;
  });
  std::optional<RawResponse> liveness = gateway.get("/health");
  expect_status(liveness, 200);
  EXPECT_EQ(json::parse(liveness->body), (json{{"status", "ok"}, {"draining", false}}));
  json detail = json::parse(get_with(gateway, "/health", kMetricsKey)->body);
  EXPECT_TRUE(detail.contains("requests_total") && detail.contains("ledger")) << detail.dump();
  expect_status(gateway.get("/ready"), 200);
}

TEST(EndpointAccessTest, HealthNamesNoPathWhileTheLedgerFails) {
  SKIP_UNLESS_SQLITE();  // PostgreSQL's failing ledger: tests/e2e/replicas
  TestGateway gateway(with_admin_key);
  SqliteLockHolder lock(gateway.config().db_path);
  ASSERT_TRUE(lock.locked());
  EXPECT_EQ(gateway.post("/v1/chat/completions", chat_body("echo", "hi"))->status, 200);
  json detail = gateway.wait_for_health([](const json& h) { return h["ledger"]["failing"] == true; }, 15s);
  ASSERT_EQ(detail["status"], "degraded") << detail.dump();
  std::string liveness = gateway.get("/health")->body;
  EXPECT_NE(liveness.find("degraded"), std::string::npos) << liveness;
  for (const std::string& body : {detail.dump(), liveness}) {
    EXPECT_EQ(body.find(gateway.config().db_path), std::string::npos) << body;
    EXPECT_EQ(body.find(".db"), std::string::npos) << body;
  }
}

}  // namespace
}  // namespace mg::test
