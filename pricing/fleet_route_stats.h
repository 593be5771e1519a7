// The fleet's live route statistics on Redis: each replica adds what its calls added up to since its
// last exchange (pricing/live_stats.h: RouteTotals) into the current time bucket, and reads back the
// sums of the buckets that make up the recent window, every replica's calls included. Buckets follow
// Redis's clock, one clock for the whole fleet, and expire on their own: a replica that dies leaves
// nothing behind for longer than the window.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pricing/live_stats.h"
#include "pricing/redis_connection.h"

namespace mg::pricing {

class FleetRouteStats {
 public:
  static constexpr std::chrono::seconds kBucket{5};
  static constexpr int kBuckets = 6;  // the window: the current bucket and the five before it (25-30 s)

  explicit FleetRouteStats(RedisOptions options);  // a connection of its own: admissions never queue behind it

  // Runs `done` on the Redis connection's thread with the fleet's totals over the window, or nullopt
  // when Redis did not answer (this replica's `mine` is then not counted).
  void exchange(const std::vector<std::pair<std::string, RouteTotals>>& mine, std::function<void(std::optional<RouteTotalsByRoute>)> done);

  RedisStatus status() const { return redis_.status(); }

 private:
  RedisConnection redis_;
};

}  // namespace mg::pricing
