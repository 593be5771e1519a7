// The fleet's limits on a key, on top of the replica's own: with redis_url set, a request that its
// replica admitted is admitted by the fleet too (pricing/shared_counters.h) before any route is tried,
// so budgets and rates hold across every replica. The fleet grants leases (gateway/fleet_lease.h):
// request slots and their worst-case dollars (kLeaseRequests to kMaxLeaseRequests, at the key's pace),
// which the replica spends locally for at most kLeaseUse, asking for the next in the background once
// one runs low. Only a request that finds no lease with room asks Redis, and its answer comes back on
// the request's executor: no I/O thread waits on Redis.
//
// When Redis does not answer, shared_state_failure decides: "open" goes on with the replica's own limits
// (a log line every 30 s and a counter), "closed" refuses with 503 and Retry-After.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <nlohmann/json.hpp>

#include "gateway/access_control.h"
#include "gateway/fleet_lease.h"
#include "gateway/metrics.h"
#include "gateway/periodic_thread.h"
#include "gateway/server_config.h"
#include "pricing/shared_counters.h"

namespace mg::gateway {

class FleetLimits {
 public:
  FleetLimits(pricing::RedisOptions options, std::chrono::milliseconds lease, SharedStateFailure on_failure);
  ~FleetLimits();  // retires every lease: their spend goes to Redis
  FleetLimits(const FleetLimits&) = delete;
  FleetLimits& operator=(const FleetLimits&) = delete;

  // Whether the fleet has anything to count for a key with these limits.
  static bool applies_to(const pricing::KeyLimits& limits);

  static constexpr std::int64_t kLeaseRequests = 32;        // a key's first lease
  static constexpr std::int64_t kMaxLeaseRequests = 4'096;  // leases follow a key's pace (Leases::retired)
  static constexpr std::chrono::milliseconds kRenewalWait{2'000};  // at shutdown, for renewals in flight
  static constexpr std::chrono::milliseconds kLeaseUse{1'000};

  // Admits the request on this replica's current lease for the key, adding it to `grant`; false when
  // there is none with room: then ask admit(). A lease running low is renewed in the background, with
  // `known_spend` to seed a key Redis lost.
  bool admit_from_lease(const pricing::ApiKeyRecord& key, double worst_case_cost_usd, AccessGrant& grant,
                        const std::function<pricing::KeySpend()>& known_spend, std::int64_t now_ms);
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

  // The lease requests for a key take from, replacing (and retiring) the one before. One request at a
  // time asks Redis for a key's next lease; the others that find no room meanwhile ask for themselves
  // alone, so that concurrent requests do not each take a lease's worth of the key's limits.
  struct Leases {
    std::mutex mutex;
    std::map<std::string, std::shared_ptr<FleetLease>> current;  // by key id
    std::set<std::string> renewing;                               // key ids whose next lease is asked for
    std::map<std::string, std::int64_t> next_size;                // by key id: request slots to ask for
    std::condition_variable renewed;                              // a renewal ended
    bool closing = false;                                         // installs no lease any more
    bool start_renewing(const std::string& key_id);
    void close(std::chrono::milliseconds wait);                   // and waits for the renewals in flight
    std::int64_t size_for(const std::string& key_id);
    void retired(const std::string& key_id, const FleetLease& lease);  // with `mutex` held
    void install(const std::string& key_id, std::shared_ptr<FleetLease> lease);
    void retire_if_current(const std::string& key_id, const std::shared_ptr<FleetLease>& lease);
    void retire_expired(FleetLease::Clock::time_point now);
  };
  pricing::SharedAdmission lease_request(const pricing::ApiKeyRecord& key, double worst_case_cost_usd, pricing::KeySpend known_spend,
                                         std::int64_t now_ms, bool renewing) const;
  static std::shared_ptr<FleetLease> lease_of(const std::shared_ptr<pricing::SharedCounters>& counters, const pricing::ApiKeyRecord& key,
                                              const pricing::SharedVerdict& verdict, FleetLease::Clock::time_point use_until,
                                              std::optional<double> first_request_usd);
  void renew_ahead(const pricing::ApiKeyRecord& key, double worst_case_cost_usd, pricing::KeySpend known_spend, std::int64_t now_ms);

  std::shared_ptr<pricing::SharedCounters> counters_;
  std::shared_ptr<Fallback> fallback_;
  std::shared_ptr<Leases> leases_;
  std::optional<PeriodicThread> sweeper_;  // retires leases whose use time is over, so their spend reaches the fleet
};

}  // namespace mg::gateway
