#include "gateway/fleet_limits.h"

#include <algorithm>

#include <boost/asio/post.hpp>

#include "gateway/exchange_accounting.h"
#include "gateway/log.h"

namespace mg::gateway {
namespace {

constexpr std::chrono::seconds kReportInterval{30};

std::string windowed(const pricing::SharedVerdict& verdict) { return verdict.window.empty() ? "daily" : verdict.window; }

// The refusal the fleet's verdict stands for; nullopt when the request goes on.
template <class OnUnavailable>
std::optional<Error> verdict_error(const pricing::ApiKeyRecord& key, const pricing::SharedVerdict& verdict, OnUnavailable&& unavailable) {
  using Outcome = pricing::SharedVerdict::Outcome;
  const pricing::KeyLimits& limits = key.limits;
  switch (verdict.outcome) {
    case Outcome::admitted: return std::nullopt;
    case Outcome::budget_spent: return budget_spent_error(key.id, windowed(verdict), verdict.spent_usd, verdict.limit_usd);
    case Outcome::budget_held:
      return budget_held_error(key.id, windowed(verdict), verdict.limit_usd - verdict.spent_usd, "its requests in flight across the fleet");
    case Outcome::requests_rate: return requests_rate_error(key.id, limits.requests_per_minute.value_or(0), verdict.retry_after_s);
    case Outcome::tokens_rate: return tokens_rate_error(key.id, limits.tokens_per_minute.value_or(0), verdict.retry_after_s);
    case Outcome::unavailable: return unavailable(verdict.error);
  }
  return std::nullopt;
}

// Redis did not answer, but may have run the admission: whatever it granted is given back (retried
// until Redis takes it), instead of held until the lease's expiry.
void release_if_unanswered(pricing::SharedCounters& counters, const std::string& key_id, const pricing::SharedVerdict& verdict) {
  if (verdict.outcome != pricing::SharedVerdict::Outcome::unavailable) return;
  counters.settle({key_id, verdict.lease_id, 0, 0, unix_now_ms(), 0, std::nullopt});
}

}  // namespace

FleetLimits::FleetLimits(pricing::RedisOptions options, std::chrono::milliseconds lease, SharedStateFailure on_failure)
    : counters_(std::make_shared<pricing::SharedCounters>(std::move(options), lease)), fallback_(std::make_shared<Fallback>()),
      leases_(std::make_shared<Leases>()) {
  fallback_->on_failure = on_failure;
  sweeper_.emplace("mg-fleet-leases", kLeaseUse / 4, [leases = leases_, counters = counters_] {
    leases->retire_expired(FleetLease::Clock::now());
    counters->retry_unsent();
  });
}

// Every lease retired and reported before the connection closes, renewals in flight included: their
// callbacks hold the counters, and must neither outlive this object nor install a lease no one retires.
FleetLimits::~FleetLimits() {
  sweeper_.reset();
  leases_->close(kRenewalWait);
  leases_->retire_expired(FleetLease::Clock::time_point::max());
  counters_->close();
}

void FleetLimits::Leases::close(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex);
  closing = true;
  renewed.wait_for(lock, wait, [this] { return renewing.empty(); });
}

bool FleetLimits::Leases::start_renewing(const std::string& key_id) {
  std::lock_guard lock(mutex);
  return renewing.insert(key_id).second;
}

std::int64_t FleetLimits::Leases::size_for(const std::string& key_id) {
  std::lock_guard lock(mutex);
  auto found = next_size.find(key_id);
  return found == next_size.end() ? kLeaseRequests : found->second;
}

// A key's pace: the next lease holds twice what this one would have admitted over its whole use time
// at the pace it was taken. Small keys stay at kLeaseRequests.
void FleetLimits::Leases::retired(const std::string& key_id, const FleetLease& lease) {
  next_size[key_id] = std::clamp<std::int64_t>(2 * lease.requests_per_use(FleetLease::Clock::now()), kLeaseRequests, kMaxLeaseRequests);
}

// `lease` null: the renewal failed.
void FleetLimits::Leases::install(const std::string& key_id, std::shared_ptr<FleetLease> lease) {
  std::shared_ptr<FleetLease> before;
  {
    std::lock_guard lock(mutex);
    renewing.erase(key_id);
    renewed.notify_all();
    if (!lease) return;
    if (closing) {
      before = std::move(lease);  // too late to be used: reported at once
    } else {
      std::shared_ptr<FleetLease>& slot = current[key_id];
      before = std::move(slot);
      slot = std::move(lease);
      if (before) retired(key_id, *before);
    }
  }
  if (before) before->retire();
}

// A lease without room for a request is done: its spend should reach the fleet now, not at its expiry.
void FleetLimits::Leases::retire_if_current(const std::string& key_id, const std::shared_ptr<FleetLease>& lease) {
  {
    std::lock_guard lock(mutex);
    auto found = current.find(key_id);
    if (found == current.end() || found->second != lease) return;
    current.erase(found);
    retired(key_id, *lease);
  }
  lease->retire();
}

// Outside the lock: a report calls into the counters.
void FleetLimits::Leases::retire_expired(FleetLease::Clock::time_point now) {
  std::vector<std::shared_ptr<FleetLease>> expired;
  {
    std::lock_guard lock(mutex);
    for (auto it = current.begin(); it != current.end();) {
      if (it->second->expired(now)) {
        retired(it->first, *it->second);
        expired.push_back(std::move(it->second));
        it = current.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const std::shared_ptr<FleetLease>& lease : expired) lease->retire();
}

bool FleetLimits::admit_from_lease(const pricing::ApiKeyRecord& key, double worst_case_cost_usd, AccessGrant& grant,
                                   const std::function<pricing::KeySpend()>& known_spend, std::int64_t now_ms) {
  std::shared_ptr<FleetLease> lease;
  {
    std::lock_guard lock(leases_->mutex);
    auto found = leases_->current.find(key.id);
    if (found == leases_->current.end()) return false;
    lease = found->second;
  }
  const FleetLease::Clock::time_point now = FleetLease::Clock::now();
  if (!lease->take(worst_case_cost_usd, now)) {
    leases_->retire_if_current(key.id, lease);
    return false;
  }
  grant.add_fleet_lease(lease, worst_case_cost_usd);
  // The next lease is asked for before this one runs out, so that the key's requests seldom wait on Redis.
  if (lease->running_low(now) && leases_->start_renewing(key.id)) renew_ahead(key, worst_case_cost_usd, known_spend(), now_ms);
  return true;
}

pricing::SharedAdmission FleetLimits::lease_request(const pricing::ApiKeyRecord& key, double worst_case_cost_usd,
                                                    pricing::KeySpend known_spend, std::int64_t now_ms, bool renewing) const {
  pricing::SharedAdmission request{key.id, key.limits, worst_case_cost_usd, now_ms, known_spend};
  if (renewing) {
    request.requests_wanted = leases_->size_for(key.id);
    request.usd_wanted = worst_case_cost_usd * static_cast<double>(request.requests_wanted);
  }
  request.use_for = kLeaseUse;
  return request;
}

std::shared_ptr<FleetLease> FleetLimits::lease_of(const std::shared_ptr<pricing::SharedCounters>& counters, const pricing::ApiKeyRecord& key,
                                                  const pricing::SharedVerdict& verdict, FleetLease::Clock::time_point use_until,
                                                  std::optional<double> first_request_usd) {
  const pricing::KeyLimits& limits = key.limits;
  const bool budgeted = limits.budget_usd_day || limits.budget_usd_month || limits.budget_usd_total;
  return std::make_shared<FleetLease>(counters, key.id, verdict, limits.requests_per_minute.has_value(), budgeted, use_until,
                                      first_request_usd);
}

void FleetLimits::renew_ahead(const pricing::ApiKeyRecord& key, double worst_case_cost_usd, pricing::KeySpend known_spend,
                              std::int64_t now_ms) {
  const FleetLease::Clock::time_point use_until = FleetLease::Clock::now() + kLeaseUse;
  counters_->admit(lease_request(key, worst_case_cost_usd, known_spend, now_ms, true),
                   [counters = counters_, leases = leases_, key, use_until](pricing::SharedVerdict verdict) {
                     release_if_unanswered(*counters, key.id, verdict);
                     const bool admitted = verdict.outcome == pricing::SharedVerdict::Outcome::admitted;
                     leases->install(key.id, admitted ? lease_of(counters, key, verdict, use_until, std::nullopt) : nullptr);
                   });
}

bool FleetLimits::applies_to(const pricing::KeyLimits& limits) {
  return limits.requests_per_minute || limits.tokens_per_minute || limits.budget_usd_day || limits.budget_usd_month ||
         limits.budget_usd_total;
}

void FleetLimits::admit(const pricing::ApiKeyRecord& key, double worst_case_cost_usd, pricing::KeySpend known_spend, std::int64_t now_ms,
                        std::shared_ptr<AccessGrant> grant, boost::asio::any_io_executor executor,
                        std::function<void(std::optional<Error>)> done) {
  const bool renewing = leases_->start_renewing(key.id);
  const FleetLease::Clock::time_point use_until = FleetLease::Clock::now() + kLeaseUse;
  counters_->admit(lease_request(key, worst_case_cost_usd, known_spend, now_ms, renewing),
                   [counters = counters_, fallback = fallback_, leases = leases_, key, worst_case_cost_usd, use_until, renewing,
                    grant = std::move(grant), executor = std::move(executor), done = std::move(done)](pricing::SharedVerdict verdict) mutable {
    std::shared_ptr<FleetLease> lease;
    // On the Redis thread: the verdict, and the lease it grants; the rest runs on the request's own thread.
    release_if_unanswered(*counters, key.id, verdict);
    if (verdict.outcome == pricing::SharedVerdict::Outcome::admitted) {
      lease = lease_of(counters, key, verdict, use_until, worst_case_cost_usd);
      grant->add_fleet_lease(lease, worst_case_cost_usd);
      if (!renewing) lease->retire();  // this request's alone: reported when it settles
    }
    if (renewing) leases->install(key.id, std::move(lease));
    std::optional<Error> refusal = verdict_error(key, verdict, [&](const std::string& why) { return fallback->unavailable(why); });
    boost::asio::post(executor, [done = std::move(done), refusal = std::move(refusal)]() mutable { done(std::move(refusal)); });
  });
}

std::optional<Error> FleetLimits::Fallback::unavailable(const std::string& why) {
  const bool open = on_failure == SharedStateFailure::open;
  (open ? admitted_by_replica_alone : refused).fetch_add(1);
  {
    std::lock_guard lock(report_mutex);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_report >= kReportInterval) {
      last_report = now;
      log_warn(std::string("shared state (Redis) unavailable: ") + why +
                  (open ? "; keys are held to this replica's own limits until it answers (shared_state_failure open)"
                        : "; requests of keys with limits get 503 until it answers (shared_state_failure closed)"));
    }
  }
  if (open) return std::nullopt;
  return Error{503, FailureClass::transient, "service_unavailable", "shared_state_unavailable", {},
               "The gateway cannot check this key's limits right now; retry shortly", 1};
}

void FleetLimits::share_ledger_spend(const std::map<std::string, pricing::KeySpend>& spend, std::int64_t now_ms) {
  for (const auto& [key_id, figures] : spend) counters_->raise_spend(key_id, figures, now_ms);
}

nlohmann::json FleetLimits::health_json() const {
  pricing::RedisStatus status = counters_->status();
  return {{"connected", status.connected},
          {"round_trip_ms", status.round_trip_ms},
          {"failures_total", status.failures_total},
          {"on_failure", fallback_->on_failure == SharedStateFailure::open ? "open" : "closed"},
          {"settlements_unsent", counters_->settlements_unsent()},
          {"settlements_lost", counters_->settlements_lost()},
          {"admitted_by_replica_alone", fallback_->admitted_by_replica_alone.load()},
          {"refused_unavailable", fallback_->refused.load()}};
}

void FleetLimits::render_metrics(MetricsText& text) const {
  pricing::RedisStatus status = counters_->status();
  text.family("modelgate_shared_state_up", "gauge", "1 while the connection to the shared state (Redis) is up.")
      .sample("modelgate_shared_state_up", "", status.connected ? 1 : 0);
  text.family("modelgate_shared_state_round_trip_seconds", "gauge", "Round trip of the last shared state (Redis) command.")
      .sample("modelgate_shared_state_round_trip_seconds", "", status.round_trip_ms / 1000.0);
  text.family("modelgate_shared_state_failures_total", "counter", "Shared state (Redis) commands that failed: unreachable, past their deadline or refused.")
      .sample("modelgate_shared_state_failures_total", "", static_cast<double>(status.failures_total));
  text.family("modelgate_shared_state_fallbacks_total", "counter",
              "Requests the fleet could not check while Redis was unavailable, by what happened to them.")
      .sample("modelgate_shared_state_fallbacks_total", prometheus_label("outcome", "admitted_by_replica_alone"),
              static_cast<double>(fallback_->admitted_by_replica_alone.load()))
      .sample("modelgate_shared_state_fallbacks_total", prometheus_label("outcome", "refused"), static_cast<double>(fallback_->refused.load()));
}

}  // namespace mg::gateway
