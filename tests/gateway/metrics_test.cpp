// The Prometheus text the request metrics render: families with HELP and TYPE, labels escaped, histogram
// buckets cumulative up to +Inf, and counters that add up what the ledger rows say.
#include "gateway/metrics.h"

#include <gtest/gtest.h>

#include "gateway/access_log.h"
#include "gateway/traffic_series.h"
#include "tests/support/prometheus_text.h"

namespace mg::gateway {
namespace {

pricing::LedgerRecord row(std::string route, int status, std::int64_t prompt, std::int64_t completion, double cost, double duration_ms) {
  pricing::LedgerRecord record;
  record.request_id = "req_1";
  record.api_key_id = "key_0123456789ab";
  record.route = std::move(route);
  record.status = status;
  record.prompt_tokens = prompt;
  record.completion_tokens = completion;
  record.cost_usd = cost;
  record.duration_ms = duration_ms;
  return record;
}

TEST(RequestMetricsTest, CountersAddUpTheConcludedRequests) {
  RequestMetrics metrics;
  RequestFacts fallback;
  fallback.attempts = {{"a/m", "transient"}, {"a/m", "transient"}, {"b/m", "ok"}};
  fallback.retries = 1;
  fallback.fallbacks = 1;
  fallback.gateway_added_ms = 0.2;
  metrics.observe(row("b/m", 200, 10, 20, 0.5, 30), fallback);
  metrics.observe(row("b/m", 200, 1, 2, 0.25, 3000), RequestFacts{});
  metrics.observe(row("", 429, 0, 0, 0, 0.1), RequestFacts{});
  std::string text;
  metrics.render(text);
  std::map<std::string, double> values = test::prometheus_samples(text);
  EXPECT_EQ(values[R"(modelgate_requests_total{route="b/m",status="200"})"], 2);
  EXPECT_EQ(values[R"(modelgate_requests_total{route="none",status="429"})"], 1);
  EXPECT_EQ(values[R"(modelgate_attempts_total{route="a/m",outcome="transient"})"], 2);
  EXPECT_EQ(values[R"(modelgate_prompt_tokens_total{route="b/m",key="key_0123456789ab"})"], 11);
  EXPECT_EQ(values[R"(modelgate_completion_tokens_total{route="b/m",key="key_0123456789ab"})"], 22);
  EXPECT_DOUBLE_EQ(values[R"(modelgate_cost_usd_total{route="b/m",key="key_0123456789ab"})"], 0.75);
  EXPECT_EQ(values["modelgate_retries_total"], 1);
  EXPECT_EQ(values["modelgate_fallbacks_total"], 1);
  EXPECT_EQ(values[R"(modelgate_request_duration_seconds_bucket{route="b/m",le="0.05"})"], 1);
  EXPECT_EQ(values[R"(modelgate_request_duration_seconds_bucket{route="b/m",le="2.5"})"], 1);
  EXPECT_EQ(values[R"(modelgate_request_duration_seconds_bucket{route="b/m",le="5"})"], 2);
  EXPECT_EQ(values[R"(modelgate_request_duration_seconds_bucket{route="b/m",le="+Inf"})"], 2);
  EXPECT_EQ(values[R"(modelgate_request_duration_seconds_count{route="b/m"})"], 2);
  EXPECT_DOUBLE_EQ(values[R"(modelgate_request_duration_seconds_sum{route="b/m"})"], 3.03);
  EXPECT_EQ(values[R"(modelgate_gateway_added_seconds_bucket{le="0.0005"})"], 1);
  EXPECT_NE(text.find("# TYPE modelgate_requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE modelgate_ttft_seconds histogram\n"), std::string::npos);
}

TEST(RequestMetricsTest, LabelValuesAreEscaped) {
  EXPECT_EQ(prometheus_label("route", "a\"b\\c\nd"), R"(route="a\"b\\c\nd")");
  EXPECT_EQ(format_metric_value(0.1), "0.1");
  EXPECT_EQ(format_metric_value(3.0), "3");
}

TEST(AccessLogTest, ALineNamesTheKeyByItsIdAndTheAttemptsByRouteAndOutcome) {
  RequestFacts facts;
  facts.attempts = {{"a/m", "auth"}, {"b/m", "ok"}};
  facts.fallbacks = 1;
  nlohmann::json line = nlohmann::json::parse(access_log_line(row("b/m", 200, 3, 4, 0.01, 12.5), facts, 1'796'472'000'123));
  EXPECT_EQ(line["ts"], "2026-12-05T12:00:00.123Z");
  EXPECT_EQ(line["key_id"], "key_0123456789ab");
  EXPECT_EQ(line["route"], "b/m");
  EXPECT_EQ(line["status"], 200);
  EXPECT_EQ(line["prompt_tokens"], 3);
  EXPECT_EQ(line["attempts"], nlohmann::json::parse(R"([{"route":"a/m","outcome":"auth"},{"route":"b/m","outcome":"ok"}])"));
  EXPECT_EQ(line["fallbacks"], 1);
}

TEST(TrafficSeriesTest, BucketsRunOldestFirstWithEmptyOnesAndForgetWhatFellOutOfTheWindow) {
  TrafficSeries series(1'000, 4);
  pricing::LedgerRecord ok = row("b/m", 200, 3, 4, 0.5, 10);
  ok.requested_model = "m";
  pricing::LedgerRecord failed = row("", 503, 0, 0, 0, 30);
  failed.requested_model = "m";
  failed.api_key_id = "";
  series.record(ok, 10'100);   // bucket 10 s
  series.record(ok, 10'900);
  series.record(failed, 12'000);  // bucket 12 s; 11 s stays empty
  nlohmann::json json = series.to_json(13'500);
  ASSERT_EQ(json["buckets"].size(), 4u);
  EXPECT_EQ(json["bucket_ms"], 1'000);
  std::vector<std::int64_t> starts, requests;
  for (const auto& bucket : json["buckets"]) {
    starts.push_back(bucket["start_ms"]);
    requests.push_back(bucket["requests"]);
  }
  EXPECT_EQ(starts, (std::vector<std::int64_t>{10'000, 11'000, 12'000, 13'000}));
  EXPECT_EQ(requests, (std::vector<std::int64_t>{2, 0, 1, 0}));
  const nlohmann::json& first = json["buckets"][0];
  EXPECT_EQ(first["latency_p50_ms"], 10);
  EXPECT_EQ(first["by_key"]["key_0123456789ab"]["requests"], 2);
  EXPECT_DOUBLE_EQ(first["by_model"]["m"]["cost_usd"].get<double>(), 1.0);
  EXPECT_TRUE(json["buckets"][1]["latency_p50_ms"].is_null());
  EXPECT_EQ(json["buckets"][2]["errors"], 1);
  const nlohmann::json later = series.to_json(17'000);
  for (const auto& bucket : later["buckets"]) {
    EXPECT_EQ(bucket["requests"], 0) << "a window of 14 to 17 s reuses the slots of 10 and 12 s, and must not show them";
  }
  nlohmann::json totals = series.totals_json();
  EXPECT_EQ(totals["requests"], 3);
  EXPECT_EQ(totals["failed"], 1);
  EXPECT_DOUBLE_EQ(totals["cost_usd"].get<double>(), 1.0);
}

}  // namespace
}  // namespace mg::gateway
