#include "gateway/circuit_breakers.h"

#include <algorithm>

namespace mg::gateway {

const char* to_string(CircuitState state) {
  switch (state) {
    case CircuitState::closed: return "closed";
    case CircuitState::open: return "open";
    case CircuitState::half_open: return "half_open";
  }
  return "closed";
}

CircuitState CircuitBreakers::effective(const Breaker& breaker, Clock::time_point now) {
  if (breaker.state == CircuitState::open && now >= breaker.open_until) return CircuitState::half_open;
  return breaker.state;
}

void CircuitBreakers::trip(Breaker& breaker, Clock::time_point now) const {
  breaker.state = CircuitState::open;
  breaker.open_until = now + options_.cooldown;
  breaker.probe_in_flight = false;
  breaker.consecutive_failures = 0;
  breaker.recent.clear();
}

bool CircuitBreakers::allow(const std::string& route, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = breakers_.find(route);
  if (it == breakers_.end()) return true;
  Breaker& breaker = it->second;
  switch (effective(breaker, now)) {
    case CircuitState::closed: return true;
    case CircuitState::open: return false;
    case CircuitState::half_open:
      if (breaker.probe_in_flight) return false;
      breaker.state = CircuitState::half_open;
      breaker.probe_in_flight = true;
      return true;
  }
  return true;
}

bool CircuitBreakers::is_open(const std::string& route, Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  auto it = breakers_.find(route);
  if (it == breakers_.end()) return false;
  CircuitState state = effective(it->second, now);
  return state == CircuitState::open || (state == CircuitState::half_open && it->second.probe_in_flight);
}

// Totals have no order: "consecutive" failures are read as every call of the window failing.
bool CircuitBreakers::would_trip(std::int64_t calls, std::int64_t failures) const {
  const bool all_failed = failures == calls && failures >= options_.consecutive_failures;
  const bool error_rate = calls >= static_cast<std::int64_t>(options_.min_calls) &&
                          static_cast<double>(failures) >= options_.error_rate * static_cast<double>(calls);
  return all_failed || error_rate;
}

void CircuitBreakers::record(const std::string& route, const std::optional<Error>& failure, Clock::time_point now) {
  if (failure && says_nothing_about_the_route(failure->failure)) return;
  std::lock_guard lock(mutex_);
  Breaker& breaker = breakers_[route];
  if (effective(breaker, now) == CircuitState::half_open) {
    if (failure) return trip(breaker, now);
    breaker = Breaker{};  // the probe succeeded: closed, history cleared
    return;
  }
  breaker.recent.push_back(failure.has_value());
  if (breaker.recent.size() > options_.window) breaker.recent.pop_front();
  breaker.consecutive_failures = failure ? breaker.consecutive_failures + 1 : 0;
  auto failures = std::count(breaker.recent.begin(), breaker.recent.end(), true);
  bool rate_exceeded = breaker.recent.size() >= options_.min_calls &&
                       static_cast<double>(failures) / static_cast<double>(breaker.recent.size()) >= options_.error_rate;
  if (breaker.consecutive_failures >= options_.consecutive_failures || (failure && rate_exceeded)) trip(breaker, now);
}

CircuitState CircuitBreakers::state(const std::string& route, Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  auto it = breakers_.find(route);
  return it == breakers_.end() ? CircuitState::closed : effective(it->second, now);
}

std::vector<std::pair<std::string, CircuitState>> CircuitBreakers::states() const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::string, CircuitState>> out;
  auto now = Clock::now();
  for (const auto& [route, breaker] : breakers_) out.emplace_back(route, effective(breaker, now));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace mg::gateway
