// GET /metrics after real traffic (answers whole and streamed, upstream failures, refusals), scraped over
// HTTP and checked against the ledger the same requests wrote: every count, token and cent agrees.
#include <gtest/gtest.h>

#include "tests/support/prometheus_text.h"
#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

using nlohmann::json;

std::string labels(const std::string& route, const std::string& extra) {
  return "{route=\"" + (route.empty() ? std::string("none") : route) + "\"," + extra + "}";
}

// Sums a family's samples whose labels start with `prefix` ("{route=\"fake/echo\",").
double sum_of(const std::map<std::string, double>& samples, const std::string& family, const std::string& prefix) {
  double sum = 0;
  for (const auto& [name, value] : samples) {
    if (name.starts_with(family + prefix)) sum += value;
  }
  return sum;
}

TEST(MetricsEndpointTest, CountersAgreeWithTheLedgerAfterTraffic) {
  TestGateway gateway;
  for (int i = 0; i < 6; ++i) gateway.post("/v1/chat/completions", chat_body("echo", "hello number " + std::to_string(i)));
  for (int i = 0; i < 3; ++i) gateway.post("/v1/chat/completions", chat_body("echo", "stream this", true));
  for (int i = 0; i < 2; ++i) gateway.post("/v1/chat/completions", chat_body("error", "fail"));
  gateway.post("/v1/chat/completions", chat_body("no-such-model", "hi"));
  gateway.post("/v1/chat/completions", json{{"model", "echo"}});  // no messages: 400

  std::optional<RawResponse> scrape = gateway.get("/metrics");
  ASSERT_TRUE(scrape);
  EXPECT_EQ(scrape->status, 200);
  EXPECT_EQ(scrape->header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  std::map<std::string, double> samples = prometheus_samples(scrape->body);
  json rows = ledger_rows(gateway.gateway(), gateway.config().db_path);
  ASSERT_EQ(rows.size(), 13u);

  std::map<std::pair<std::string, int>, int> by_route_and_status;
  std::map<std::string, json> by_route;
  for (const json& row : rows) {
    const std::string route = row["route"];
    ++by_route_and_status[{route, row["status"].get<int>()}];
    json& sums = by_route[route];
    if (sums.is_null()) sums = json::object();
    sums["prompt"] = sums.value("prompt", 0) + row["prompt_tokens"].get<int>();
    sums["completion"] = sums.value("completion", 0) + row["completion_tokens"].get<int>();
    sums["cost"] = sums.value("cost", 0.0) + row["cost_usd"].get<double>();
    sums["requests"] = sums.value("requests", 0) + 1;
  }
  double requests_in_metrics = sum_of(samples, "modelgate_requests_total", "{");
  EXPECT_EQ(requests_in_metrics, 13);
  for (const auto& [key, count] : by_route_and_status) {
    EXPECT_EQ(samples["modelgate_requests_total" + labels(key.first, "status=\"" + std::to_string(key.second) + "\"")], count)
        << key.first << " " << key.second;
  }
  for (const auto& [route, sums] : by_route) {
    const std::string prefix = "{route=\"" + (route.empty() ? std::string("none") : route) + "\",";
    EXPECT_EQ(sum_of(samples, "modelgate_prompt_tokens_total", prefix), sums["prompt"].get<int>()) << route;
    EXPECT_EQ(sum_of(samples, "modelgate_completion_tokens_total", prefix), sums["completion"].get<int>()) << route;
    EXPECT_NEAR(sum_of(samples, "modelgate_cost_usd_total", prefix), sums["cost"].get<double>(), 1e-12) << route;
    EXPECT_EQ(samples["modelgate_request_duration_seconds_count{route=\"" + (route.empty() ? std::string("none") : route) + "\"}"],
              sums["requests"].get<int>()) << route;
  }
  EXPECT_GT(by_route["fake/echo"]["completion"].get<int>(), 0);
  EXPECT_EQ(samples["modelgate_attempts_total{route=\"fake/error\",outcome=\"transient\"}"], 2 * 2);  // one retry each
  EXPECT_EQ(samples["modelgate_retries_total"], 2);
  EXPECT_EQ(samples["modelgate_ttft_seconds_count{route=\"fake/echo\"}"], 9);  // whole answers count their first byte too
  EXPECT_EQ(samples["modelgate_gateway_added_seconds_count"], 11);             // every request that reached a route
  EXPECT_EQ(samples["modelgate_circuit_state{route=\"fake/echo\"}"], 0);
  EXPECT_GE(samples["modelgate_open_connections"], 1);  // the scrape's own, and maybe one still closing
}

}  // namespace
}  // namespace mg::test
