// Routing on the fleet's measurements: once a second, a replica with redis_url sends what its calls
// added up to (pricing/live_stats.h) and takes back the fleet's totals over the last 25-30 s
// (pricing/fleet_route_stats.h), which its LiveStats then prefer to its own figures. So a route that
// one replica sees failing is known to the others within about two seconds: RoutingState skips a route
// whose fleet totals would trip a circuit breaker (CircuitBreakers::would_trip). Each replica keeps its
// own breakers, with their half-open probes; the fleet's verdict on a route lapses with the window once
// no replica reports failures on it. Redis unavailable: each replica routes on its own figures.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "gateway/periodic_thread.h"
#include "pricing/fleet_route_stats.h"
#include "pricing/live_stats.h"

namespace mg::gateway {

class FleetRouteSync {
 public:
  static constexpr std::chrono::milliseconds kInterval{1'000};

  FleetRouteSync(pricing::RedisOptions options, pricing::LiveStats& stats);

  nlohmann::json health_json() const;

 private:
  void exchange_once();

  pricing::LiveStats& stats_;
  std::atomic<std::int64_t> exchanges_{0};
  pricing::FleetRouteStats fleet_;  // after what its callbacks use: its thread is joined first
  PeriodicThread thread_;           // last: it stops first
};

}  // namespace mg::gateway
