#include "gateway/fleet_limits.h"

#include <boost/asio/post.hpp>

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

}  // namespace

FleetLimits::FleetLimits(pricing::RedisOptions options, std::chrono::milliseconds lease, SharedStateFailure on_failure)
    : counters_(std::make_shared<pricing::SharedCounters>(std::move(options), lease)), fallback_(std::make_shared<Fallback>()) {
  fallback_->on_failure = on_failure;
}

bool FleetLimits::applies_to(const pricing::KeyLimits& limits) {
  return limits.requests_per_minute || limits.tokens_per_minute || limits.budget_usd_day || limits.budget_usd_month ||
         limits.budget_usd_total;
}

void FleetLimits::admit(const pricing::ApiKeyRecord& key, double worst_case_cost_usd, pricing::KeySpend known_spend, std::int64_t now_ms,
                        std::shared_ptr<AccessGrant> grant, boost::asio::any_io_executor executor,
                        std::function<void(std::optional<Error>)> done) {
  pricing::SharedAdmission request{key.id, key.limits, worst_case_cost_usd, now_ms, known_spend};
  counters_->admit(request, [counters = counters_, fallback = fallback_, key, grant = std::move(grant), executor = std::move(executor),
                             done = std::move(done)](pricing::SharedVerdict verdict) mutable {
    // On the Redis thread: only the verdict is read here; the rest runs on the request's own thread.
    if (verdict.outcome == pricing::SharedVerdict::Outcome::admitted) grant->add_fleet_lease(counters, verdict.lease_id);
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
