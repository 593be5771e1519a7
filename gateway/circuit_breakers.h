// One circuit breaker per route, fed by real traffic (no health check ever spends money on an LLM call).
// Closed: calls flow. Open: the route is skipped until the cooldown ends. Half-open: one probe call
// decides, closing the circuit on success and reopening it on failure. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/result.h"

namespace mg::gateway {

struct CircuitOptions {
  int consecutive_failures = 5;   // that many failures in a row open the circuit
  double error_rate = 0.5;        // or this failure rate over the window...
  std::size_t window = 20;        // ...of the last calls,
  std::size_t min_calls = 10;     // once the window holds at least this many
  std::chrono::milliseconds cooldown{30'000};
};

enum class CircuitState { closed, open, half_open };
const char* to_string(CircuitState state);

class CircuitBreakers {
 public:
  using Clock = std::chrono::steady_clock;
  explicit CircuitBreakers(CircuitOptions options = {}) : options_(options) {}

  // May this route be called now? In half-open, true once: for the single probe.
  bool allow(const std::string& route, Clock::time_point now = Clock::now());
  // Whether routing should skip the route, without claiming the probe.
  bool is_open(const std::string& route, Clock::time_point now = Clock::now()) const;
  // An attempt's outcome. Rate limits, the caller's faults and cancellations say nothing about health.
  void record(const std::string& route, const std::optional<Error>& failure, Clock::time_point now = Clock::now());

  // Would this many calls and failures open a circuit? For the fleet's totals on a route over its recent
  // window (gateway/fleet_route_sync.h).
  bool would_trip(std::int64_t calls, std::int64_t failures) const;

  CircuitState state(const std::string& route, Clock::time_point now = Clock::now()) const;
  std::vector<std::pair<std::string, CircuitState>> states() const;

 private:
  struct Breaker {
    CircuitState state = CircuitState::closed;
    int consecutive_failures = 0;
    std::deque<bool> recent;  // true = failure
    Clock::time_point open_until{};
    bool probe_in_flight = false;
  };
  static CircuitState effective(const Breaker& breaker, Clock::time_point now);
  void trip(Breaker& breaker, Clock::time_point now) const;

  CircuitOptions options_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Breaker> breakers_;
};

}  // namespace mg::gateway
