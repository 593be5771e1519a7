// What the gateway measures on its own traffic, per route: time to first token, end-to-end throughput
// (tokens / total time, TTFT included, as OpenRouter defines it) and success, as EWMAs plus a window of
// recent samples for percentiles. Written by the request path, read by routing; thread-safe.
// In a fleet (gateway/fleet_route_sync.h) it also holds the fleet's recent totals per route: those take
// the place of the replica's own EWMAs and success rate once they count min_samples calls. Percentiles
// stay the replica's own.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace mg::pricing {

enum class Percentile { p50, p75, p90, p99 };

struct CallSample {
  bool success = true;
  bool counts_for_uptime = true;  // false for 429s and the caller's own errors
  std::optional<double> ttft_ms;  // only for successful calls
  std::optional<double> throughput_tok_s;
};

// What calls on a route add up to: sums, so that replicas' figures merge by addition.
struct RouteTotals {
  std::int64_t calls = 0;  // that count for uptime
  std::int64_t failures = 0;
  double ttft_ms_sum = 0;
  std::int64_t ttft_samples = 0;
  double throughput_tok_s_sum = 0;
  std::int64_t throughput_samples = 0;
  void add(const CallSample& sample);
};
using RouteTotalsByRoute = std::unordered_map<std::string, RouteTotals>;

struct RouteFigures {
  std::int64_t samples = 0;  // calls that count for uptime
  double success_rate = 1;
  std::optional<double> ttft_ms;           // EWMA
  std::optional<double> throughput_tok_s;  // EWMA
};

struct LiveStatsOptions {
  double ewma_alpha = 0.2;            // weight of the newest sample
  std::int64_t min_samples = 5;       // below this, routing uses published figures
  std::size_t window = 256;           // recent samples kept for percentiles
};

class LiveStats {
 public:
  explicit LiveStats(LiveStatsOptions options = {}) : options_(options) {}

  void record(const std::string& route, const CallSample& sample);

  // Measured figures once the route has min_samples; nullopt before that.
  std::optional<RouteFigures> figures(const std::string& route) const;
  std::optional<double> ttft_percentile_ms(const std::string& route, Percentile percentile) const;
  std::optional<double> throughput_percentile_tok_s(const std::string& route, Percentile percentile) const;
  // Every route with samples, for the background writer.
  std::vector<std::pair<std::string, RouteFigures>> snapshot_all() const;

  // This replica's totals since the last call, per route with calls, for the fleet.
  std::vector<std::pair<std::string, RouteTotals>> take_unshared();
  // The fleet's recent totals (this replica's included); empty: the replica's own figures alone.
  void set_fleet_totals(RouteTotalsByRoute totals);
  std::optional<RouteTotals> fleet_totals(const std::string& route) const;

  const LiveStatsOptions& options() const { return options_; }

 private:
  struct Entry {
    mutable std::mutex mutex;
    RouteFigures figures;
    std::int64_t successes = 0;
    std::deque<double> ttft_window;
    std::deque<double> throughput_window;
    RouteTotals unshared;
  };
  const Entry* find(const std::string& route) const;
  Entry& find_or_add(const std::string& route);
  std::optional<double> window_percentile(const std::string& route, std::deque<double> Entry::*window, Percentile percentile) const;

  LiveStatsOptions options_;
  mutable std::shared_mutex map_mutex_;
  std::unordered_map<std::string, std::unique_ptr<Entry>> entries_;
  std::atomic<std::shared_ptr<const RouteTotalsByRoute>> fleet_;
};

}  // namespace mg::pricing
