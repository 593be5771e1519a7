// The fleet's limits on a key, on top of the replica's own: with redis_url set, a request that its
// replica admitted is admitted by the fleet too (pricing/shared_counters.h) before any route is tried,
// so budgets and rates hold across every replica. The answer comes back on the request's executor: no
// I/O thread waits on Redis.
//
// When Redis does not answer, shared_state_failure decides: "open" goes on with the replica's own limits
// (a log line every 30 s and a counter), "closed" refuses with 503 and Retry-After.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include <boost/asio/any_io_executor.hpp>
#include <nlohmann/json.hpp>

#include "gateway/access_control.h"
#include "gateway/metrics.h"
#include "gateway/server_config.h"
#include "pricing/shared_counters.h"

namespace mg::gateway {

class FleetLimits {
 public:
  FleetLimits(pricing::RedisOptions options, std::chrono::milliseconds lease, SharedStateFailure on_failure);

  // Whether the fleet has anything to count for a key with these limits.
  static bool applies_to(const pricing::KeyLimits& limits);

  // Asks the fleet to admit the request `grant` holds for `key`. `done` runs on `executor` with nullopt
  // to go on (the fleet's lease added to `grant`, or Redis unavailable and failing open) or the refusal.
  void admit(const pricing::ApiKeyRecord& key, double worst_case_cost_usd, pricing::KeySpend known_spend, std::int64_t now_ms,
             std::shared_ptr<AccessGrant> grant, boost::asio::any_io_executor executor, std::function<void(std::optional<Error>)> done);
  // Seeds (or raises) each key's shared spend with what the ledger says.
  void share_ledger_spend(const std::map<std::string, pricing::KeySpend>& spend, std::int64_t now_ms);

  nlohmann::json health_json() const;
  void render_metrics(MetricsText& text) const;

 private:
  // What to do when Redis does not answer, and how often it happened. Shared with the callbacks in
  // flight, which may outlive this object at shutdown.
  struct Fallback {
    SharedStateFailure on_failure;
    std::atomic<std::int64_t> admitted_by_replica_alone{0};  // failing open
    std::atomic<std::int64_t> refused{0};                    // failing closed
    std::mutex report_mutex;
    std::chrono::steady_clock::time_point last_report{};
    std::optional<Error> unavailable(const std::string& why);
  };

  std::shared_ptr<pricing::SharedCounters> counters_;
  std::shared_ptr<Fallback> fallback_;
};

}  // namespace mg::gateway
