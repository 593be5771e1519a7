#include "gateway/circuit_breakers.h"

#include <gtest/gtest.h>

namespace mg::gateway {
namespace {

using namespace std::chrono_literals;
using Clock = CircuitBreakers::Clock;

const std::optional<Error> kOk;
const std::optional<Error> kTransient = Error::upstream("boom", FailureClass::transient);
const std::optional<Error> kRateLimited = Error::upstream("slow down", FailureClass::rate_limit, 429);

TEST(CircuitBreakersTest, ConsecutiveFailuresOpenTheCircuitUntilTheCooldownEnds) {
  CircuitBreakers breakers(CircuitOptions{3, 0.9, 20, 10, 1000ms});
  Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 2; ++i) breakers.record("r", kTransient, t0);
  EXPECT_EQ(breakers.state("r", t0), CircuitState::closed);
  breakers.record("r", kTransient, t0);
  EXPECT_EQ(breakers.state("r", t0), CircuitState::open);
  EXPECT_TRUE(breakers.is_open("r", t0));
  EXPECT_FALSE(breakers.allow("r", t0 + 999ms));
  EXPECT_EQ(breakers.state("r", t0 + 1000ms), CircuitState::half_open);
}

TEST(CircuitBreakersTest, HalfOpenLetsOneProbeThroughAndItDecides) {
  CircuitBreakers breakers(CircuitOptions{1, 0.9, 20, 10, 100ms});
  Clock::time_point t0 = Clock::now();
  breakers.record("r", kTransient, t0);
  Clock::time_point later = t0 + 150ms;
  EXPECT_TRUE(breakers.allow("r", later));
  EXPECT_FALSE(breakers.allow("r", later)) << "only one probe at a time";
  EXPECT_TRUE(breakers.is_open("r", later));
  breakers.record("r", kOk, later);
  EXPECT_EQ(breakers.state("r", later), CircuitState::closed);
  breakers.record("r", kTransient, later);
  EXPECT_EQ(breakers.state("r", later), CircuitState::open);
  EXPECT_TRUE(breakers.allow("r", later + 150ms));
  breakers.record("r", kTransient, later + 150ms);  // a failed probe reopens it
  EXPECT_EQ(breakers.state("r", later + 200ms), CircuitState::open);
}

TEST(CircuitBreakersTest, ErrorRateOverTheWindowOpensTheCircuit) {
  CircuitBreakers breakers(CircuitOptions{100, 0.5, 10, 10, 1000ms});
  Clock::time_point t0 = Clock::now();
  for (int i = 0; i < 10; ++i) breakers.record("r", i % 2 ? kTransient : kOk, t0);  // 5 of 10 fail, never 2 in a row
  EXPECT_EQ(breakers.state("r", t0), CircuitState::open);
}

// The fleet's totals over a window have no order: every call failing stands for failures in a row.
TEST(CircuitBreakersTest, TotalsTripWhenEveryCallFailedOrByTheErrorRate) {
  CircuitBreakers breakers(CircuitOptions{5, 0.5, 20, 10, 1000ms});
  EXPECT_TRUE(breakers.would_trip(5, 5));
  EXPECT_FALSE(breakers.would_trip(4, 4)) << "fewer than consecutive_failures";
  EXPECT_FALSE(breakers.would_trip(9, 5)) << "one success among them, and fewer than min_calls";
  EXPECT_TRUE(breakers.would_trip(10, 5));
  EXPECT_FALSE(breakers.would_trip(10, 4));
  EXPECT_FALSE(breakers.would_trip(0, 0));
}

// Nor does a request the route cannot express (n > 1 to Anthropic's API): one client sending those must
// not open the route's circuit for everyone.
TEST(CircuitBreakersTest, RateLimitsCallerFaultsAndUnsupportedRequestsSayNothingAboutHealth) {
  CircuitBreakers breakers(CircuitOptions{2, 0.5, 10, 2, 1000ms});
  for (int i = 0; i < 10; ++i) {
    breakers.record("r", kRateLimited);
    breakers.record("r", Error::invalid_request("bad"));
    breakers.record("r", Error{422, FailureClass::unsupported, "invalid_request_error", "unsupported_by_route", {}, "no n > 1", 0});
  }
  EXPECT_EQ(breakers.state("r"), CircuitState::closed);
  EXPECT_TRUE(breakers.allow("unknown-route"));
}

}  // namespace
}  // namespace mg::gateway
