// Who may call, for which models, how fast and for how much: client API keys checked on every
// completion request, before any route is tried. Keys live in memory (a snapshot swapped in when the
// keys table changes); each key's spend and rate buckets are counted here and settled when a request
// concludes, so the request path never waits for SQLite.
//
// Budgets hold under concurrency: each admitted request reserves its worst-case cost until it settles,
// and a request that would take the key past a budget with others still in flight waits its turn (429,
// Retry-After 1). A key therefore ends at most one request's cost past its budget.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pricing/api_keys.h"
#include "core/result.h"

namespace mg::gateway {

struct KeyUsageState;
class FleetLease;

// An admitted request's hold on its key: the cost it reserved. Settle it exactly once, when the request
// concludes; one dropped unsettled gives its reservation back. Empty (no key) when auth is off.
class AccessGrant {
 public:
  AccessGrant() = default;
  AccessGrant(std::shared_ptr<KeyUsageState> state, std::string key_id, double reserved_usd);
  ~AccessGrant();
  AccessGrant(AccessGrant&&) noexcept;
  AccessGrant& operator=(AccessGrant&&) noexcept;

  const std::string& key_id() const { return key_id_; }
  // The fleet's share of the same request: `reserved_usd` taken from `lease` (gateway/fleet_lease.h),
  // settled with this one.
  void add_fleet_lease(std::shared_ptr<FleetLease> lease, double reserved_usd);
  // Counts what the request cost against the key's budgets and token rate, and frees the reservation.
  void settle(double cost_usd, std::int64_t tokens, std::int64_t now_ms);

 private:
  std::shared_ptr<KeyUsageState> state_;
  std::string key_id_;
  double reserved_usd_ = 0;
  std::shared_ptr<FleetLease> fleet_lease_;
  double fleet_reserved_usd_ = 0;
};

// What a request asks for, as admission sees it.
struct AccessRequest {
  std::vector<std::string> models;  // `model` and the `models` fallbacks
  double worst_case_cost_usd = 0;   // the most its chain could charge
  std::int64_t now_ms = 0;          // Unix milliseconds
};

// One key as the admin API and the dashboard show it: never its secret or digest.
struct KeyStatus {
  pricing::ApiKeyRecord record;  // secret_sha256 cleared
  pricing::KeySpend spent;
  double reserved_usd = 0;
  int in_flight = 0;
};

class AccessControl {
 public:
  // `spent`: what the ledger says each key has spent in the current day and month (pricing::load_key_spend).
  AccessControl(std::vector<pricing::ApiKeyRecord> keys, std::map<std::string, pricing::KeySpend> spent, std::int64_t now_ms);

  // Swaps in the keys table as it is now (created or revoked elsewhere). Spend and rates carry over by id.
  void replace_keys(std::vector<pricing::ApiKeyRecord> keys);

  // Keys are required once any key exists, revoked ones included: revoking the last key must not open
  // the gateway to everyone.
  bool auth_required() const;

  // The key an Authorization header presents: 401 for a missing, malformed or unknown key, 403 for a
  // revoked one; null when auth is off.
  using KeyRef = std::shared_ptr<const pricing::ApiKeyRecord>;
  Result<KeyRef> authenticate(std::string_view authorization_header) const;
  // 403 when the key may not use one of `models`; checked before routing, so a refused model reveals
  // nothing of its routes. Nothing to refuse for a null key.
  std::optional<Error> model_refusal(const KeyRef& key, const std::vector<std::string>& models) const;
  // The key's models, rates and budgets: 403 for a model it may not use, 429 with Retry-After while a
  // rate is spent or its budget is held by requests in flight, 402 once a budget is spent. An empty
  // grant for a null key.
  Result<AccessGrant> admit(const KeyRef& key, const AccessRequest& request);

  std::vector<KeyStatus> status(std::int64_t now_ms) const;
  // What this replica knows the key has spent: the ledger at start plus its own requests since.
  pricing::KeySpend known_spend(const std::string& key_id, std::int64_t now_ms);

 private:
  struct Table;
  std::shared_ptr<const Table> table() const;
  std::shared_ptr<KeyUsageState> usage_of(const std::string& key_id, std::int64_t now_ms);

  mutable std::mutex mutex_;             // guards table_ and usage_, not a key's own state
  std::shared_ptr<const Table> table_;
  std::map<std::string, std::shared_ptr<KeyUsageState>> usage_;  // by key id; kept across replace_keys
};

// The refusals of a key's limits, in the OpenAI error shape; the fleet's (gateway/fleet_limits.h) are
// worded as the replica's own.
Error budget_spent_error(const std::string& key_id, const std::string& window, double spent_usd, double limit_usd);
Error budget_held_error(const std::string& key_id, const std::string& window, double left_usd, const std::string& held_by);
Error requests_rate_error(const std::string& key_id, std::int64_t per_minute, int retry_after_s);
Error tokens_rate_error(const std::string& key_id, std::int64_t per_minute, int retry_after_s);

}  // namespace mg::gateway
