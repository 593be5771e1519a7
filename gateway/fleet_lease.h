// What the fleet set aside for this replica on one key (pricing/shared_counters.h): request slots and
// dollars, so that the replica admits the key's next requests itself, without a Redis round trip, until
// the lease runs out or its use time ends. Requests taken from it settle into it (what a request did not
// spend of its worst case goes back into the lease). Once retired, it reports to Redis what its requests
// cost and gives back what they do not hold; once the last request in flight has ended, the rest.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "pricing/shared_counters.h"

namespace mg::gateway {

class FleetLease {
 public:
  using Clock = std::chrono::steady_clock;
  // `verdict`: the fleet's grant; `rated`, `budgeted`: whether the key has a request rate and a budget
  // (the grant's slots and dollars bind only then). `first_request_usd`: the share of the request that
  // asked for the lease, taken at once; nullopt for a lease renewed ahead of need.
  FleetLease(std::shared_ptr<pricing::SharedCounters> counters, std::string key_id, const pricing::SharedVerdict& verdict,
             bool rated, bool budgeted, Clock::time_point use_until, std::optional<double> first_request_usd);

  // Takes one request that may cost up to `worst_case_usd`; false when the lease has not that much left,
  // or its use time is over.
  bool take(double worst_case_usd, Clock::time_point now);
  // A request taken from it ended, costing `cost_usd` of the `reserved_usd` it took.
  void settle(double reserved_usd, double cost_usd, std::int64_t tokens);
  // Takes no more requests; reports once the last one in flight has settled.
  void retire();
  bool expired(Clock::time_point now) const { return now >= use_until_; }
  // Past half its use time, or with less than half its slots or dollars left: time to ask for the next.
  bool running_low(Clock::time_point now) const;
  // The requests it would admit over a whole use time at the pace it has been taken so far.
  std::int64_t requests_per_use(Clock::time_point now) const;

 private:
  void report_when_done(std::unique_lock<std::mutex>& lock);

  std::shared_ptr<pricing::SharedCounters> counters_;
  const std::string key_id_;
  const std::string lease_id_;
  const Clock::time_point granted_at_;
  const Clock::time_point use_until_;
  const double usd_granted_;
  const std::int64_t slots_granted_;
  mutable std::mutex mutex_;
  std::int64_t slots_used_ = 0;
  std::optional<std::int64_t> requests_left_;
  std::optional<double> usd_left_;
  int in_flight_ = 0;
  double reserved_in_flight_usd_ = 0;  // the worst cases of the requests in flight
  double spent_usd_ = 0;               // since the last report
  std::int64_t tokens_ = 0;            // likewise
  bool retired_ = false;
  bool reported_retired_ = false;
  bool reported_final_ = false;
};

}  // namespace mg::gateway
