// Prometheus metrics of the request path: counters and histograms fed once per concluded request
// (the same facts as its ledger row), rendered with the gauges read at scrape time (connections,
// circuits, measured route figures, the local engine) as the text exposition format on GET /metrics.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/exchange_accounting.h"
#include "pricing/ledger.h"

namespace mg::gateway {

// A histogram over fixed upper bounds in seconds, as Prometheus cumulates them.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 16> kBoundsSeconds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                             0.25,   0.5,   1,      2.5,   5,    10,   30,    120};
  void observe(double seconds);
  // Appends name_bucket{labels,le=...}, name_sum{labels} and name_count{labels} lines.
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::array<std::uint64_t, kBoundsSeconds.size()> counts_{};  // per bound, not cumulated
  std::uint64_t count_ = 0;
  double sum_seconds_ = 0;
};

class RequestMetrics {
 public:
  void observe(const pricing::LedgerRecord& row, const RequestFacts& facts);
  void render(std::string& out) const;

 private:
  // Keyed by the values themselves, found without building a string per request; label text is
  // written only when scraped.
  template <class Value>
  using ByName = std::map<std::string, Value, std::less<>>;
  struct KeyTotals {
    std::uint64_t prompt_tokens = 0;
    std::uint64_t completion_tokens = 0;
    double cost_usd = 0;
  };
  struct RouteTotals {  // of the route that answered ("none" when none did)
    std::map<int, std::uint64_t> requests_by_status;
    ByName<KeyTotals> by_key;
    LatencyHistogram duration;
    std::optional<LatencyHistogram> ttft;  // once a request on the route had a first token
  };

  mutable std::mutex mutex_;
  ByName<RouteTotals> routes_;
  ByName<ByName<std::uint64_t>> attempts_;  // by route tried, then outcome
  LatencyHistogram gateway_added_;
  std::uint64_t retries_ = 0;
  std::uint64_t fallbacks_ = 0;
};

// Writes Prometheus text: "# HELP", "# TYPE" and the samples of one metric family.
class MetricsText {
 public:
  explicit MetricsText(std::string& out) : out_(out) {}
  MetricsText& family(const std::string& name, const char* type, const char* help);
  MetricsText& sample(const std::string& name, const std::string& labels, double value);

 private:
  std::string& out_;
};

// `name="value"` with the value escaped as the exposition format wants (\\, \" and \n).
std::string prometheus_label(const char* name, const std::string& value);
std::string format_metric_value(double value);

}  // namespace mg::gateway
