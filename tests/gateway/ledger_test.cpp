// The usage ledger, end to end: every request that reaches a completion endpoint leaves exactly one row
// in the real SQLite file, with the cost the client was told, and a shutdown loses none of them.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "gateway/exchange_accounting.h"
#include "tests/support/mock_upstream.h"
#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

struct LedgerTotals {
  std::int64_t rows = 0;
  double cost_usd = 0;
  std::int64_t ok_rows = 0;
};

LedgerTotals ledger_totals(const std::string& db_path) {
  pricing::Database db = pricing::Database::open(db_path);
  pricing::Statement query = db.prepare("SELECT COUNT(*), COALESCE(SUM(cost_usd), 0), COUNT(CASE WHEN status = 200 AND error_code = '' THEN 1 END)"
                                          " FROM usage_ledger");
  query.step();
  return LedgerTotals{query.integer(0), query.real(1), query.integer(2)};
}

json ledger_rows(const std::string& db_path) {
  pricing::Database db = pricing::Database::open(db_path);
  pricing::Statement query = db.prepare(
      "SELECT request_id, requested_model, route, prompt_tokens, completion_tokens, cost_usd, status, error_code, routes_tried, stream"
      " FROM usage_ledger ORDER BY id");
  json rows = json::array();
  while (query.step()) {
    rows.push_back({{"request_id", query.text(0)}, {"requested_model", query.text(1)}, {"route", query.text(2)},
                    {"prompt_tokens", query.integer(3)}, {"completion_tokens", query.integer(4)}, {"cost_usd", query.real(5)},
                    {"status", query.integer(6)}, {"error_code", query.text(7)}, {"routes_tried", json::parse(query.text(8))},
                    {"stream", query.integer(9) != 0}});
  }
  return rows;
}

// The fake provider's price: $1 per million prompt tokens, $2 per million completion tokens.
double fake_cost(std::int64_t prompt_tokens, std::int64_t completion_tokens) { return (prompt_tokens * 1.0 + completion_tokens * 2.0) / 1e6; }

// A catalogue route to the mock upstream at $0.11 in / $0.19 out per million tokens. The mock reports
// 11 prompt and 4 completion tokens per answer.
void route_to_mock(const std::string& db_path, const MockUpstream& mock) {
  pricing::Database db = pricing::Database::open(db_path);
  pricing::upsert_provider(db, {"mock", mock.base_url(), "", "openai", true});
  put_route(db, "m", "mock", "mock-ok", 0.11, 0.19);
}

constexpr double kMockAnswerCost = (11 * 0.11 + 4 * 0.19) / 1e6;

TEST(LedgerTest, TenThousandSequentialRequestsLeaveTenThousandRowsWithExactCost) {
  MockUpstream mock;
  TempDir dir;
  std::string db_path = test_database(dir, "ledger.db");
  route_to_mock(db_path, mock);
  constexpr int kRequests = 10'000;
  double reported_cost = 0;
  {
    TestGateway server([&](gateway::ServerConfig& config) { config.db_path = db_path; });
    RawConnection connection(server.port());
    for (int i = 0; i < kRequests; ++i) {
      ASSERT_TRUE(connection.send(build_request("POST", "/v1/chat/completions", chat_body("m", "request " + std::to_string(i), i % 4 == 0).dump())));
      auto response = connection.read_response();
      ASSERT_TRUE(response && response->status == 200) << i;
      if (i % 4 != 0) reported_cost += json::parse(response->body)["usage"]["cost"].get<double>();
    }
  }  // shutdown flushes the ledger
  EXPECT_EQ(mock.requests_served(), kRequests);
  LedgerTotals totals = ledger_totals(db_path);
  EXPECT_EQ(totals.rows, kRequests);
  EXPECT_EQ(totals.ok_rows, kRequests);
  EXPECT_NEAR(totals.cost_usd, kRequests * kMockAnswerCost, 1e-6);  // to the micro-dollar
  EXPECT_NEAR(reported_cost, (kRequests - kRequests / 4) * kMockAnswerCost, 1e-9);  // what the clients were told
}

TEST(LedgerTest, SigtermMidRunLosesNoCompletedRequest) {
  MockUpstream mock;
  TempDir dir;
  std::string db_path = test_database(dir, "sigterm.db");
  route_to_mock(db_path, mock);
  std::atomic<int> completed{0};
  {
    TestGateway server([&](gateway::ServerConfig& config) { config.db_path = db_path; });
    server.gateway().handle_signals();
    std::uint16_t port = server.port();
    auto client = std::async(std::launch::async, [&] {
      for (int i = 0; i < 100'000; ++i) {
        auto response = http_request(port, "POST", "/v1/chat/completions", chat_body("m", "count me " + std::to_string(i)).dump());
        if (!response) return;  // the gateway has stopped accepting
        if (response->status == 200) completed.fetch_add(1);
      }
    });
    while (completed.load() < 300) std::this_thread::sleep_for(1ms);
    ::kill(::getpid(), SIGTERM);
    client.get();
    server.gateway().wait();
  }
  LedgerTotals totals = ledger_totals(db_path);
  EXPECT_GE(completed.load(), 300);
  EXPECT_EQ(totals.ok_rows, completed.load()) << "every answered request has its row, and no row is invented";
  EXPECT_EQ(totals.rows, totals.ok_rows);
  EXPECT_NEAR(totals.cost_usd, completed.load() * kMockAnswerCost, 1e-9);
}

TEST(LedgerTest, FailuresFallbacksAndRejectionsEachLeaveOneRow) {
  TempDir dir;
  std::string db_path = test_database(dir, "outcomes.db");
  {
    TestGateway server([&](gateway::ServerConfig& config) { config.db_path = db_path; });
    auto post = [&](const json& body, const std::string& id) {
      return http_request(server.port(), "POST", "/v1/chat/completions", body.dump(), {{"Content-Type", "application/json"}, {"X-Request-Id", id}});
    };
    json fallback = chat_body("error", "fall back");
    fallback["models"] = {"echo"};
    ASSERT_EQ(post(fallback, "r-fallback")->status, 200);
    ASSERT_EQ(post(chat_body("error", "x"), "r-all-failed")->status, 503);
    ASSERT_EQ(post(chat_body("nope", "x"), "r-unknown")->status, 404);
    ASSERT_EQ(post(json{{"model", "echo"}}, "r-invalid")->status, 400);
    ASSERT_EQ(post(chat_body("flaky", "a b c", true), "r-midstream")->status, 200);
    {
      RawConnection leaving(server.port());
      leaving.send(build_request("POST", "/v1/chat/completions", chat_body("slow", "bye").dump(), {{"Content-Type", "application/json"}, {"X-Request-Id", "r-left"}}));
      std::this_thread::sleep_for(50ms);
      leaving.close_abruptly();
    }
    server.wait_for_health([](const json& h) { return h["active_generations"] == 0; });
  }
  json rows = ledger_rows(db_path);
  ASSERT_EQ(rows.size(), 6u) << rows.dump(2);
  std::map<std::string, json> by_id;
  for (const json& row : rows) by_id[row["request_id"]] = row;

  const json& fell_back = by_id["r-fallback"];
  EXPECT_EQ(fell_back["route"], "fake/echo");
  EXPECT_EQ(fell_back["status"], 200);
  ASSERT_EQ(fell_back["routes_tried"].size(), 3u);  // the failing route, its one retry, then the fallback
  EXPECT_EQ(fell_back["routes_tried"][0]["route"], "fake/error");
  EXPECT_EQ(fell_back["routes_tried"][0]["outcome"], "transient");
  EXPECT_EQ(fell_back["routes_tried"][1]["route"], "fake/error");
  EXPECT_EQ(fell_back["routes_tried"][2]["outcome"], "ok");
  EXPECT_DOUBLE_EQ(fell_back["cost_usd"].get<double>(), fake_cost(2, 4));

  EXPECT_EQ(by_id["r-all-failed"]["status"], 503);
  EXPECT_EQ(by_id["r-all-failed"]["error_code"], "no_route_available");
  EXPECT_EQ(by_id["r-all-failed"]["route"], "");
  EXPECT_EQ(by_id["r-unknown"]["status"], 404);
  EXPECT_EQ(by_id["r-unknown"]["requested_model"], "nope");
  EXPECT_EQ(by_id["r-invalid"]["status"], 400);
  EXPECT_EQ(by_id["r-midstream"]["status"], 200);  // the client got 200, then an in-band error
  EXPECT_EQ(by_id["r-midstream"]["error_code"], "upstream_error");
  EXPECT_TRUE(by_id["r-midstream"]["stream"].get<bool>());
  EXPECT_EQ(by_id["r-left"]["status"], 499);
}

TEST(LedgerTest, UsageEndpointAggregatesTheLedger) {
  TestGateway server;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(server.post("/v1/chat/completions", chat_body("echo", "one two"))->status, 200);
  json fallback = chat_body("error", "x y z");
  fallback["models"] = {"echo"};
  ASSERT_EQ(server.post("/v1/chat/completions", fallback)->status, 200);
  ASSERT_EQ(server.post("/v1/chat/completions", chat_body("nope", "x"))->status, 404);
  server.gateway().recorder().flush();

  auto by_model = server.get("/v1/usage");
  ASSERT_TRUE(by_model);
  ASSERT_EQ(by_model->status, 200) << by_model->body;
  json report = json::parse(by_model->body);
  EXPECT_EQ(report["group_by"], "model");
  std::map<std::string, json> groups;
  for (const json& row : report["data"]) groups[row["group"]] = row;
  EXPECT_EQ(groups["echo"]["requests"], 3);
  EXPECT_EQ(groups["echo"]["prompt_tokens"], 6);
  EXPECT_NEAR(groups["echo"]["cost_usd"].get<double>(), 3 * fake_cost(2, 4), 1e-12);
  EXPECT_EQ(groups["error"]["requests"], 1);  // requested "error", answered by fake/echo
  EXPECT_EQ(groups["nope"]["failed_requests"], 1);

  json by_route = json::parse(server.get("/v1/usage?group_by=route")->body);
  std::map<std::string, json> routes;
  for (const json& row : by_route["data"]) routes[row["group"]] = row;
  EXPECT_EQ(routes["fake/echo"]["requests"], 4);
  EXPECT_EQ(routes[""]["requests"], 1);  // the 404 reached no route

  json future = json::parse(server.get("/v1/usage?from_ms=" + std::to_string(gateway::unix_now_ms() + 60'000))->body);
  EXPECT_TRUE(future["data"].empty());
  auto bad = server.get("/v1/usage?group_by=planet");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(json::parse(bad->body)["error"]["param"], "group_by");
}

TEST(LedgerTest, LiveStatisticsAreMeasuredOnRealTraffic) {
  TempDir dir;
  std::string db_path = test_database(dir, "stats.db");
  {
    TestGateway server([&](gateway::ServerConfig& config) { config.db_path = db_path; });
    for (int i = 0; i < 6; ++i) ASSERT_EQ(server.post("/v1/chat/completions", chat_body("slow", "measure me"))->status, 200);
    auto figures = server.gateway().routing().live_stats().figures("fake/slow");
    ASSERT_TRUE(figures);
    EXPECT_EQ(figures->samples, 6);
    EXPECT_GE(*figures->ttft_ms, 250.0);  // the fake waits 300 ms for its first token
    EXPECT_GT(*figures->throughput_tok_s, 0.0);
    EXPECT_DOUBLE_EQ(figures->success_rate, 1.0);
  }
}

}  // namespace
}  // namespace mg::test
