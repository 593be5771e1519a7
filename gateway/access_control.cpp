#include "gateway/access_control.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "gateway/api_key_secrets.h"
#include "gateway/fleet_lease.h"

namespace mg::gateway {
namespace {

constexpr double kMinuteMs = 60'000.0;

// Refills at `per_minute` a minute and holds at most a minute's worth. It may go below zero: the tokens
// of a request are counted when it ends, and the key waits until the bucket is back above zero.
struct RateBucket {
  double level = 0;
  std::int64_t updated_ms = 0;
  bool started = false;

  void refill(std::int64_t per_minute, std::int64_t now_ms) {
    const double capacity = static_cast<double>(per_minute);
    if (!started) {
      started = true;
      level = capacity;
    } else if (now_ms > updated_ms) {
      level = std::min(capacity, level + capacity * static_cast<double>(now_ms - updated_ms) / kMinuteMs);
    }
    updated_ms = std::max(updated_ms, now_ms);
  }
  // Whole seconds until the level reaches `wanted`, at least 1.
  int seconds_until(double wanted, std::int64_t per_minute) const {
    double ms = (wanted - level) * kMinuteMs / static_cast<double>(per_minute);
    return std::max(1, static_cast<int>(std::ceil(ms / 1000.0)));
  }
};

std::string dollars(double usd) {
  char text[32];
  std::snprintf(text, sizeof text, "$%.6g", usd);
  return text;
}

Error access_error(int status, FailureClass failure, std::string type, std::string code, std::string message, int retry_after_s = 0) {
  return Error{status, failure, std::move(type), std::move(code), {}, std::move(message), retry_after_s};
}

Error unauthenticated(std::string message) {
  return access_error(401, FailureClass::auth, "invalid_request_error", "invalid_api_key", std::move(message));
}

Error rate_limited(std::string message, int retry_after_s, std::string code = "rate_limit_exceeded") {
  return access_error(429, FailureClass::rate_limit, "rate_limit_error", std::move(code), std::move(message), retry_after_s);
}

}  // namespace

Error budget_spent_error(const std::string& key_id, const std::string& window, double spent_usd, double limit_usd) {
  return access_error(402, FailureClass::caller_fault, "insufficient_quota", "budget_exceeded",
                      "API key '" + key_id + "' has spent " + dollars(spent_usd) + " of its " + dollars(limit_usd) + " " + window + " budget");
}

Error budget_held_error(const std::string& key_id, const std::string& window, double left_usd, const std::string& held_by) {
  return rate_limited("API key '" + key_id + "' has " + dollars(left_usd) + " left of its " + window + " budget, held by " + held_by +
                          "; retry when they finish",
                      1, "budget_held_by_requests_in_flight");
}

Error requests_rate_error(const std::string& key_id, std::int64_t per_minute, int retry_after_s) {
  return rate_limited("API key '" + key_id + "' is limited to " + std::to_string(per_minute) + " requests per minute", retry_after_s);
}

Error tokens_rate_error(const std::string& key_id, std::int64_t per_minute, int retry_after_s) {
  return rate_limited("API key '" + key_id + "' is limited to " + std::to_string(per_minute) + " tokens per minute", retry_after_s);
}

// One key's running figures. Guarded by its own mutex, so keys never wait for each other.
struct KeyUsageState {
  std::mutex mutex;
  pricing::KeySpend spent;
  std::int64_t day_start_ms = 0;    // the window `spent.day_usd` counts
  std::int64_t month_start_ms = 0;  // the window `spent.month_usd` counts
  double reserved_usd = 0;          // the worst-case cost of the requests in flight
  int in_flight = 0;
  RateBucket requests;
  RateBucket tokens;

  // A key's figures, counting from the day and month that hold `now_ms`.
  static std::shared_ptr<KeyUsageState> starting(std::int64_t now_ms, pricing::KeySpend spent = {}) {
    auto state = std::make_shared<KeyUsageState>();
    state->spent = spent;
    state->day_start_ms = pricing::utc_day_start_ms(now_ms);
    state->month_start_ms = pricing::utc_month_start_ms(now_ms);
    return state;
  }

  // Starts a new day's or month's count when `now_ms` has left the window.
  void roll_windows(std::int64_t now_ms) {
    if (std::int64_t day = pricing::utc_day_start_ms(now_ms); day > day_start_ms) {
      day_start_ms = day;
      spent.day_usd = 0;
    }
    if (std::int64_t month = pricing::utc_month_start_ms(now_ms); month > month_start_ms) {
      month_start_ms = month;
      spent.month_usd = 0;
    }
  }
};

struct AccessControl::Table {
  std::map<std::string, pricing::ApiKeyRecord, std::less<>> by_id;
};

// ---- AccessGrant -----------------------------------------------------------------------------------------

AccessGrant::AccessGrant(std::shared_ptr<KeyUsageState> state, std::string key_id, double reserved_usd)
    : state_(std::move(state)), key_id_(std::move(key_id)), reserved_usd_(reserved_usd) {}

AccessGrant::~AccessGrant() {
  if (state_) settle(0, 0, 0);  // an abandoned request gives its reservation back
}

AccessGrant::AccessGrant(AccessGrant&& other) noexcept
    : state_(std::move(other.state_)), key_id_(std::move(other.key_id_)), reserved_usd_(other.reserved_usd_),
      fleet_lease_(std::move(other.fleet_lease_)), fleet_reserved_usd_(other.fleet_reserved_usd_) {}

AccessGrant& AccessGrant::operator=(AccessGrant&& other) noexcept {
  if (this != &other) {
    if (state_) settle(0, 0, 0);
    state_ = std::move(other.state_);
    key_id_ = std::move(other.key_id_);
    reserved_usd_ = other.reserved_usd_;
    fleet_lease_ = std::move(other.fleet_lease_);
    fleet_reserved_usd_ = other.fleet_reserved_usd_;
  }
  return *this;
}

void AccessGrant::add_fleet_lease(std::shared_ptr<FleetLease> lease, double reserved_usd) {
  fleet_lease_ = std::move(lease);
  fleet_reserved_usd_ = reserved_usd;
}

void AccessGrant::settle(double cost_usd, std::int64_t tokens, std::int64_t now_ms) {
  if (!state_) return;
  if (std::shared_ptr<FleetLease> lease = std::move(fleet_lease_)) lease->settle(fleet_reserved_usd_, cost_usd, tokens);
  std::shared_ptr<KeyUsageState> state = std::move(state_);
  std::lock_guard lock(state->mutex);
  state->reserved_usd = std::max(0.0, state->reserved_usd - reserved_usd_);
  state->in_flight = std::max(0, state->in_flight - 1);
  if (now_ms > 0) state->roll_windows(now_ms);
  state->spent.day_usd += cost_usd;
  state->spent.month_usd += cost_usd;
  state->spent.total_usd += cost_usd;
  state->tokens.level -= static_cast<double>(tokens);
}

// ---- AccessControl ---------------------------------------------------------------------------------------

AccessControl::AccessControl(std::vector<pricing::ApiKeyRecord> keys, std::map<std::string, pricing::KeySpend> spent, std::int64_t now_ms) {
  for (const auto& [id, figures] : spent) usage_[id] = KeyUsageState::starting(now_ms, figures);
  replace_keys(std::move(keys));
}

void AccessControl::replace_keys(std::vector<pricing::ApiKeyRecord> keys) {
  auto table = std::make_shared<Table>();
  for (auto& key : keys) table->by_id.emplace(key.id, std::move(key));
  std::lock_guard lock(mutex_);
  table_ = std::move(table);
}

std::shared_ptr<const AccessControl::Table> AccessControl::table() const {
  std::lock_guard lock(mutex_);
  return table_;
}

std::shared_ptr<KeyUsageState> AccessControl::usage_of(const std::string& key_id, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  std::shared_ptr<KeyUsageState>& state = usage_[key_id];
  if (!state) state = KeyUsageState::starting(now_ms);
  return state;
}

bool AccessControl::auth_required() const { return !table()->by_id.empty(); }

namespace {

// The budgets a request may not cross, with the figure spent in each one's window.
struct BudgetCheck {
  const char* window;  // "daily", "monthly", "total"
  std::optional<double> limit_usd;
  double spent_usd;
};

// 402 when a budget is spent; 429 when what is left is held by the key's other requests in flight.
std::optional<Error> check_budgets(const std::string& key_id, const KeyUsageState& state, const pricing::KeyLimits& limits,
                                   double worst_case_cost_usd) {
  const BudgetCheck checks[] = {{"daily", limits.budget_usd_day, state.spent.day_usd},
                                {"monthly", limits.budget_usd_month, state.spent.month_usd},
                                {"total", limits.budget_usd_total, state.spent.total_usd}};
  for (const BudgetCheck& check : checks) {
    if (!check.limit_usd) continue;
    if (check.spent_usd >= *check.limit_usd) return budget_spent_error(key_id, check.window, check.spent_usd, *check.limit_usd);
    if (state.in_flight > 0 && check.spent_usd + state.reserved_usd + worst_case_cost_usd > *check.limit_usd) {
      return budget_held_error(key_id, check.window, *check.limit_usd - check.spent_usd,
                               "its " + std::to_string(state.in_flight) + " requests in flight");
    }
  }
  return std::nullopt;
}

std::optional<Error> check_rates(const std::string& key_id, KeyUsageState& state, const pricing::KeyLimits& limits, std::int64_t now_ms) {
  if (auto rpm = limits.requests_per_minute) {
    state.requests.refill(*rpm, now_ms);
    if (state.requests.level < 1.0) return requests_rate_error(key_id, *rpm, state.requests.seconds_until(1.0, *rpm));
  }
  if (auto tpm = limits.tokens_per_minute) {
    state.tokens.refill(*tpm, now_ms);
    if (state.tokens.level <= 0.0) return tokens_rate_error(key_id, *tpm, state.tokens.seconds_until(0.0, *tpm));
  }
  return std::nullopt;
}

}  // namespace

Result<AccessControl::KeyRef> AccessControl::authenticate(std::string_view authorization_header) const {
  std::shared_ptr<const Table> keys = table();
  if (keys->by_id.empty()) return KeyRef{};
  std::optional<std::string_view> token = bearer_token(authorization_header);
  if (!token) return unauthenticated("This gateway requires an API key: send 'Authorization: Bearer <key>'");
  std::optional<std::string> id = api_key_id_of(*token);
  auto key = id ? keys->by_id.find(*id) : keys->by_id.end();
  if (key == keys->by_id.end() || !api_key_matches(*token, key->second.secret_sha256)) {
    return unauthenticated("Incorrect API key provided; keys are created with 'modelgate keys create' or POST /admin/keys");
  }
  if (key->second.revoked()) {
    return access_error(403, FailureClass::auth, "invalid_request_error", "api_key_revoked", "API key '" + key->second.id + "' has been revoked");
  }
  return KeyRef(keys, &key->second);  // shares the table's lifetime
}

std::optional<Error> AccessControl::model_refusal(const KeyRef& key, const std::vector<std::string>& models) const {
  if (!key) return std::nullopt;
  for (const std::string& model : models) {
    if (!key->limits.allows_model(model)) {
      Error error = access_error(403, FailureClass::caller_fault, "invalid_request_error", "model_not_allowed",
                                 "API key '" + key->id + "' may not use model '" + model + "'");
      error.param = "model";
      return error;
    }
  }
  return std::nullopt;
}

Result<AccessGrant> AccessControl::admit(const KeyRef& key, const AccessRequest& request) {
  if (!key) return AccessGrant{};
  if (auto refused = model_refusal(key, request.models)) return *std::move(refused);
  const pricing::ApiKeyRecord& record = *key;
  std::shared_ptr<KeyUsageState> state = usage_of(record.id, request.now_ms);
  std::lock_guard lock(state->mutex);
  state->roll_windows(request.now_ms);
  // A spent budget first: waiting for a rate to refill would not help.
  if (auto refused = check_budgets(record.id, *state, record.limits, request.worst_case_cost_usd)) return *std::move(refused);
  if (auto refused = check_rates(record.id, *state, record.limits, request.now_ms)) return *std::move(refused);
  if (record.limits.requests_per_minute) state->requests.level -= 1.0;
  state->reserved_usd += request.worst_case_cost_usd;
  ++state->in_flight;
  return AccessGrant(state, record.id, request.worst_case_cost_usd);
}

pricing::KeySpend AccessControl::known_spend(const std::string& key_id, std::int64_t now_ms) {
  std::shared_ptr<KeyUsageState> state = usage_of(key_id, now_ms);
  std::lock_guard lock(state->mutex);
  state->roll_windows(now_ms);
  return state->spent;
}

std::vector<KeyStatus> AccessControl::status(std::int64_t now_ms) const {
  std::shared_ptr<const Table> keys = table();
  std::vector<KeyStatus> out;
  for (const auto& [id, record] : keys->by_id) {
    KeyStatus status;
    status.record = record;
    status.record.secret_sha256.clear();
    std::shared_ptr<KeyUsageState> state;
    {
      std::lock_guard lock(mutex_);
      if (auto found = usage_.find(id); found != usage_.end()) state = found->second;
    }
    if (state) {
      std::lock_guard lock(state->mutex);
      state->roll_windows(now_ms);
      status.spent = state->spent;
      status.reserved_usd = state->reserved_usd;
      status.in_flight = state->in_flight;
    }
    out.push_back(std::move(status));
  }
  std::sort(out.begin(), out.end(), [](const KeyStatus& a, const KeyStatus& b) { return a.record.created_at_ms < b.record.created_at_ms; });
  return out;
}

}  // namespace mg::gateway
