// Client API keys through the real server: every refusal as an OpenAI error object with its status (401,
// 403, 402, 429 with Retry-After), the admin API behind the admin key, keys made by another process taken
// up while serving, and a budget that 32 concurrent clients cannot overrun by more than one request.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "gateway/key_admin.h"
#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

using nlohmann::json;

void with_admin_key(gateway::ServerConfig& config) { config.admin_key = kTestAdminKey; }

json create_key(TestGateway& gateway, const json& spec) { return create_key_as_admin(gateway, spec); }

constexpr const char* kAdminKey = kTestAdminKey;

json echo(int max_tokens = 8) {
  json body = chat_body("echo", "hello there");
  body["max_tokens"] = max_tokens;
  return body;
}

// The refusal's status, code and Retry-After, checked as the OpenAI error shape.
void expect_refusal(const std::optional<RawResponse>& response, int status, const std::string& code) {
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, status) << response->body;
  json error = json::parse(response->body)["error"];
  EXPECT_EQ(error["code"], code) << response->body;
  EXPECT_TRUE(error["message"].is_string() && !error["message"].get<std::string>().empty());
  EXPECT_TRUE(error.contains("type") && error.contains("param"));
}

TEST(ApiKeysTest, EveryRefusalHasItsStatusAndCode) {
  TestGateway gateway(with_admin_key);
  EXPECT_EQ(gateway.post("/v1/chat/completions", echo())->status, 200);  // no keys yet: open on loopback
  json limited = create_key(gateway, {{"name", "limited"}, {"requests_per_minute", 2}, {"allowed_models", {"echo"}}});
  json spent = create_key(gateway, {{"name", "spent"}, {"budget_usd_day", 0}});
  const std::string key = limited["key"];

  expect_refusal(gateway.post("/v1/chat/completions", echo()), 401, "invalid_api_key");
  expect_refusal(gateway.post("/v1/chat/completions", echo(), bearer("sk-not-a-modelgate-key")), 401, "invalid_api_key");
  std::string forged = key.substr(0, key.size() - 4) + "0000";
  expect_refusal(gateway.post("/v1/chat/completions", echo(), bearer(forged)), 401, "invalid_api_key");
  expect_refusal(gateway.post("/v1/chat/completions", chat_body("slow", "hi"), bearer(key)), 403, "model_not_allowed");
  expect_refusal(gateway.post("/v1/chat/completions", echo(), bearer(spent["key"])), 402, "budget_exceeded");

  EXPECT_EQ(gateway.post("/v1/chat/completions", echo(), bearer(key))->status, 200);
  EXPECT_EQ(gateway.post("/v1/chat/completions", echo(), bearer(key))->status, 200);
  std::optional<RawResponse> limited_out = gateway.post("/v1/chat/completions", echo(), bearer(key));
  expect_refusal(limited_out, 429, "rate_limit_exceeded");
  EXPECT_GE(std::stoi(limited_out->header("retry-after")), 1);

  std::optional<RawResponse> revoked = http_request(gateway.port(), "DELETE", "/admin/keys/" + limited["id"].get<std::string>(), "", bearer(kAdminKey));
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->status, 200) << revoked->body;
  expect_refusal(gateway.post("/v1/chat/completions", echo(), bearer(key)), 403, "api_key_revoked");

  // Every refusal left its ledger row, with the key's id where the key was known.
  json rows = ledger_rows(gateway.gateway(), gateway.config().db_path);
  std::map<std::pair<int, std::string>, int> outcomes;
  for (const json& row : rows) ++outcomes[{row["status"].get<int>(), row["error_code"].get<std::string>()}];
  EXPECT_EQ((outcomes[{401, "invalid_api_key"}]), 3);
  EXPECT_EQ((outcomes[{403, "model_not_allowed"}]), 1);
  EXPECT_EQ((outcomes[{402, "budget_exceeded"}]), 1);
  EXPECT_EQ((outcomes[{429, "rate_limit_exceeded"}]), 1);
  EXPECT_EQ((outcomes[{403, "api_key_revoked"}]), 1);
}

TEST(ApiKeysTest, TheAdminApiNeedsTheAdminKeyAndNeverShowsAKeyAgain) {
  TestGateway gateway(with_admin_key);
  expect_refusal(gateway.post("/admin/keys", json::object()), 401, "invalid_admin_key");
  expect_refusal(gateway.post("/admin/keys", json::object(), bearer(std::string(kAdminKey) + "x")), 401, "invalid_admin_key");
  expect_refusal(gateway.post("/admin/keys", {{"requests_per_minute", 0}}, bearer(kAdminKey)), 400, "invalid_value");
  expect_refusal(gateway.post("/admin/keys", {{"budget", 1}}, bearer(kAdminKey)), 400, "invalid_value");
  json created = create_key(gateway, {{"name", "team-a"}, {"budget_usd_month", 12.5}, {"tokens_per_minute", 1000}});
  EXPECT_EQ(created["name"], "team-a");
  EXPECT_EQ(created["budget_usd_month"], 12.5);
  EXPECT_EQ(gateway.post("/v1/chat/completions", echo(), bearer(created["key"]))->status, 200);

  std::optional<RawResponse> list = http_request(gateway.port(), "GET", "/admin/keys", "", bearer(kAdminKey));
  ASSERT_TRUE(list && list->status == 200);
  EXPECT_EQ(list->body.find(created["key"].get<std::string>()), std::string::npos);
  EXPECT_EQ(list->body.find("sha256"), std::string::npos);
  json keys = json::parse(list->body)["data"];
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0]["id"], created["id"]);
  EXPECT_GT(keys[0]["spent_total_usd"].get<double>(), 0);
  expect_refusal(http_request(gateway.port(), "DELETE", "/admin/keys/key_000000000000", "", bearer(kAdminKey)), 404, "api_key_not_found");
}

TEST(ApiKeysTest, WithoutAnAdminKeyTheAdminApiIsOff) {
  TestGateway gateway;
  expect_refusal(gateway.post("/admin/keys", json::object(), bearer("anything")), 403, "admin_api_disabled");
}

TEST(ApiKeysTest, AKeyCreatedByAnotherProcessIsRequiredWithinThePollInterval) {
  TestGateway gateway([](gateway::ServerConfig& config) { config.catalogue_poll_interval = std::chrono::milliseconds(50); });
  EXPECT_EQ(gateway.post("/v1/chat/completions", echo())->status, 200);
  pricing::Database db = pricing::Database::open(gateway.config().db_path);  // as `modelgate keys create` does
  gateway::CreatedKey created = gateway::create_api_key(db, gateway::KeySpec{"cli", {}}, 0);
  register_test_secret(created.key);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int status = 200;
  while (status == 200 && std::chrono::steady_clock::now() < deadline) {
    status = gateway.post("/v1/chat/completions", echo())->status;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(status, 401);
  EXPECT_EQ(gateway.post("/v1/chat/completions", echo(), bearer(created.key))->status, 200);
}

TEST(ApiKeysTest, ThirtyTwoConcurrentClientsOverrunABudgetByAtMostOneRequest) {
  TestGateway gateway(with_admin_key);
  constexpr double kBudgetUsd = 0.0005;  // about fifty requests at the fake provider's $1 / $2 per million
  json key = create_key(gateway, {{"name", "shared"}, {"budget_usd_total", kBudgetUsd}});
  std::atomic<int> answered{0}, over_budget{0}, waited{0}, other{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 32; ++i) {
    clients.emplace_back([&] {
      for (int attempt = 0; attempt < 400; ++attempt) {
        std::optional<RawResponse> response = gateway.post("/v1/chat/completions", echo(), bearer(key["key"]));
        int status = response ? response->status : 0;
        if (status == 200) ++answered;
        else if (status == 429) ++waited;
        else if (status == 402) return void(++over_budget);
        else return void(++other);
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(over_budget.load(), 32) << "every client ends on 402";
  double spent = 0, dearest = 0;
  int rows_answered = 0;
  for (const json& row : ledger_rows(gateway.gateway(), gateway.config().db_path)) {
    spent += row["cost_usd"].get<double>();
    dearest = std::max(dearest, row["cost_usd"].get<double>());
    rows_answered += row["status"] == 200;
  }
  std::printf("budget $%g: %d answered, %d told to wait, spent $%g, one request at most $%g\n", kBudgetUsd, answered.load(), waited.load(),
              spent, dearest);
  EXPECT_EQ(rows_answered, answered.load());
  EXPECT_GE(spent, kBudgetUsd);
  EXPECT_LE(spent, kBudgetUsd + dearest + 1e-12);
}

TEST(ApiKeysTest, TokensPerMinuteRefuseOnceAnswersHaveUsedThem) {
  TestGateway gateway(with_admin_key);
  json key = create_key(gateway, {{"tokens_per_minute", 10}});
  EXPECT_EQ(gateway.post("/v1/chat/completions", echo(), bearer(key["key"]))->status, 200);  // about 6 tokens
  EXPECT_EQ(gateway.post("/v1/chat/completions", echo(), bearer(key["key"]))->status, 200);  // starts with some left
  std::optional<RawResponse> refused = gateway.post("/v1/chat/completions", echo(), bearer(key["key"]));
  expect_refusal(refused, 429, "rate_limit_exceeded");
  EXPECT_GE(std::stoi(refused->header("retry-after")), 1);
}

}  // namespace
}  // namespace mg::test
