#include "gateway/fleet_route_sync.h"

namespace mg::gateway {

FleetRouteSync::FleetRouteSync(pricing::RedisOptions options, pricing::LiveStats& stats)
    : stats_(stats), fleet_(std::move(options)), thread_("mg-fleet-routes", kInterval, [this] { exchange_once(); }) {}

// The answer lands on the Redis thread, which fleet_ joins before exchanges_ and stats_ (the gateway's) go.
void FleetRouteSync::exchange_once() {
  fleet_.exchange(stats_.take_unshared(), [this](std::optional<pricing::RouteTotalsByRoute> totals) {
    if (totals) exchanges_.fetch_add(1);
    stats_.set_fleet_totals(totals ? std::move(*totals) : pricing::RouteTotalsByRoute{});
  });
}

nlohmann::json FleetRouteSync::health_json() const {
  pricing::RedisStatus status = fleet_.status();
  return {{"connected", status.connected}, {"round_trip_ms", status.round_trip_ms}, {"exchanges", exchanges_.load()}};
}

}  // namespace mg::gateway
