// The fleet's counters on a real redis-server (a throwaway one on a loopback port): rates, budgets under
// concurrency from two "replicas", leases of a replica that died, and a server that goes away.
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "pricing/shared_counters.h"
#include "tests/support/test_servers.h"

namespace mg::pricing {
namespace {

using namespace std::chrono_literals;
using Outcome = SharedVerdict::Outcome;

RedisOptions options_for(const std::string& url) {
  RedisOptions options;
  EXPECT_TRUE(parse_redis_url(url, options)) << url;
  return options;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

SharedVerdict admit_now(SharedCounters& counters, const SharedAdmission& request) {
  std::promise<SharedVerdict> verdict;
  counters.admit(request, [&](SharedVerdict answer) { verdict.set_value(std::move(answer)); });
  return verdict.get_future().get();
}

// Waits until the connection is up (it connects in the background).
void wait_connected(const SharedCounters& counters) {
  for (int i = 0; i < 200 && !counters.status().connected; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(counters.status().connected);
}

class SharedCountersTest : public ::testing::Test {
 protected:
  test::TestServer redis_{test::TestServer::Kind::redis};
  SharedCounters replica_a_{options_for(redis_.url()), 60s};
  SharedCounters replica_b_{options_for(redis_.url()), 60s};
  void SetUp() override {
    wait_connected(replica_a_);
    wait_connected(replica_b_);
  }
};

TEST(RedisUrlTest, HostAndPort) {
  RedisOptions options;
  ASSERT_TRUE(parse_redis_url("redis://cache.internal:6380", options));
  EXPECT_EQ(options.host, "cache.internal");
  EXPECT_EQ(options.port, 6380);
  ASSERT_TRUE(parse_redis_url("redis://10.0.0.5", options));
  EXPECT_EQ(options.port, 6379);
  EXPECT_FALSE(parse_redis_url("http://x:1", options));
  EXPECT_FALSE(parse_redis_url("redis://x:99999", options));
  EXPECT_FALSE(parse_redis_url("redis://:6379", options));
}

TEST_F(SharedCountersTest, TheRequestRateIsTheFleetsAcrossReplicas) {
  SharedAdmission request{"key_rpm", {}, 0.0, now_ms(), {}};
  request.limits.requests_per_minute = 10;
  int admitted = 0;
  for (int i = 0; i < 30; ++i) {
    SharedVerdict verdict = admit_now(i % 2 ? replica_a_ : replica_b_, request);
    if (verdict.outcome == Outcome::admitted) {
      ++admitted;
    } else {
      EXPECT_EQ(verdict.outcome, Outcome::requests_rate);
      EXPECT_GE(verdict.retry_after_s, 1);
      EXPECT_LE(verdict.retry_after_s, 60);
    }
  }
  EXPECT_EQ(admitted, 10);
}

// A replica's lease: a quarter of the request slots and of the dollars the limits leave, at least one
// request's worth; the slots it did not use go back to the window when it settles.
TEST_F(SharedCountersTest, LeasesGrantAQuarterOfWhatIsLeftAndGiveBackWhatWasNotUsed) {
  SharedAdmission request{"key_leased", {}, 0.1, now_ms(), {}};
  request.limits.requests_per_minute = 10;
  request.limits.budget_usd_total = 1.0;
  request.requests_wanted = 8;
  request.usd_wanted = 0.8;
  request.use_for = 1s;
  SharedVerdict first = admit_now(replica_a_, request);
  ASSERT_EQ(first.outcome, Outcome::admitted);
  EXPECT_EQ(first.granted_requests, 2) << "a quarter of the 10 slots free";
  EXPECT_DOUBLE_EQ(first.granted_usd, 0.25) << "a quarter of the $1 left";
  SharedVerdict second = admit_now(replica_b_, request);
  ASSERT_EQ(second.outcome, Outcome::admitted);
  EXPECT_EQ(second.granted_requests, 2) << "a quarter of the 8 slots free";
  EXPECT_DOUBLE_EQ(second.granted_usd, 0.1875) << "a quarter of the $0.75 left";

  replica_a_.settle({request.key_id, first.lease_id, 0.05, 0, now_ms(), 2, 1});  // used 1 slot of 2, $0.05
  SharedAdmission single = request;
  single.requests_wanted = 1;
  single.usd_wanted = 0;
  int admitted = 0;
  for (SharedVerdict verdict; (verdict = admit_now(replica_a_, single)).outcome == Outcome::admitted && admitted < 20; ++admitted) {
    EXPECT_EQ(verdict.granted_requests, 1);
    replica_a_.settle({request.key_id, verdict.lease_id, 0, 0, now_ms(), 1, 1});
  }
  EXPECT_EQ(admitted, 10 - 1 - 2) << "all but the slot used and the two the second lease holds";
  EXPECT_EQ(admit_now(replica_a_, single).outcome, Outcome::requests_rate);
}

TEST_F(SharedCountersTest, ThirtyTwoClientsOnTwoReplicasEndABudgetAtMostOneRequestPast) {
  constexpr double kBudget = 1.0, kWorstCase = 0.07, kCost = 0.06;  // 17 requests: $1.02
  SharedAdmission request{"key_budget", {}, kWorstCase, now_ms(), {}};
  request.limits.budget_usd_day = kBudget;
  std::atomic<int> admitted{0}, spent_refusals{0};
  std::vector<std::thread> clients;
  for (int client = 0; client < 32; ++client) {
    clients.emplace_back([&, client] {
      SharedCounters& replica = client % 2 ? replica_a_ : replica_b_;
      for (int attempt = 0; attempt < 200; ++attempt) {
        SharedVerdict verdict = admit_now(replica, request);
        if (verdict.outcome == Outcome::budget_spent) {
          ++spent_refusals;
          return;
        }
        if (verdict.outcome != Outcome::admitted) continue;  // held by others in flight: try again
        ++admitted;
        replica.settle({request.key_id, verdict.lease_id, kCost, 10, now_ms(), 1, 1});
      }
    });
  }
  for (std::thread& client : clients) client.join();
  SharedVerdict last = admit_now(replica_a_, request);
  ASSERT_EQ(last.outcome, Outcome::budget_spent);
  std::printf("%d requests admitted; the key spent $%.4f of its $%.2f budget\n", admitted.load(), last.spent_usd, kBudget);
  EXPECT_GE(last.spent_usd, kBudget);
  EXPECT_LE(last.spent_usd, kBudget + kWorstCase) << "at most one request's cost past the budget";
  EXPECT_DOUBLE_EQ(last.spent_usd, admitted * kCost);
  EXPECT_EQ(spent_refusals, 32);
}

TEST_F(SharedCountersTest, AReservationOfAReplicaThatDiedExpiresWithItsLease) {
  SharedCounters short_lived(options_for(redis_.url()), 300ms);
  wait_connected(short_lived);
  SharedAdmission request{"key_lease", {}, 0.8, now_ms(), {}};
  request.limits.budget_usd_total = 1.0;
  ASSERT_EQ(admit_now(short_lived, request).outcome, Outcome::admitted);  // never settled: the replica "died"
  EXPECT_EQ(admit_now(replica_a_, request).outcome, Outcome::budget_held);
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(admit_now(replica_a_, request).outcome, Outcome::admitted);
}

TEST_F(SharedCountersTest, SpendIsSeededFromTheLedgerAndRaisedToIt) {
  SharedAdmission request{"key_seeded", {}, 0.1, now_ms(), KeySpend{2.0, 2.0, 2.0}};
  request.limits.budget_usd_day = 3.0;
  SharedVerdict first = admit_now(replica_a_, request);
  ASSERT_EQ(first.outcome, Outcome::admitted);
  replica_a_.settle({"key_seeded", first.lease_id, 0.5, 0, now_ms(), 1, 1});
  replica_b_.raise_spend("key_seeded", KeySpend{3.5, 3.5, 3.5}, now_ms());  // a settlement Redis missed
  SharedVerdict refused = admit_now(replica_b_, request);
  EXPECT_EQ(refused.outcome, Outcome::budget_spent);
  EXPECT_DOUBLE_EQ(refused.spent_usd, 3.5);
}

// A replica that stops settles its leases on the way out: what it sent before it closed reaches Redis.
TEST_F(SharedCountersTest, SettlementsSentAsAReplicaStopsReachTheServer) {
  SharedAdmission request{"key_stopping", {}, 0.3, now_ms(), {}};
  request.limits.budget_usd_total = 1.0;
  {
    SharedCounters stopping(options_for(redis_.url()), 60s);
    wait_connected(stopping);
    SharedVerdict verdict = admit_now(stopping, request);
    ASSERT_EQ(verdict.outcome, Outcome::admitted);
    stopping.settle({request.key_id, verdict.lease_id, 1.0, 0, now_ms(), 1, 1});
  }  // destroyed at once, the settlement still in its buffer
  SharedVerdict after = admit_now(replica_a_, request);
  EXPECT_EQ(after.outcome, Outcome::budget_spent) << "the settlement was lost";
  EXPECT_DOUBLE_EQ(after.spent_usd, 1.0);
}

TEST_F(SharedCountersTest, AStoppedServerIsUnavailableAtOnceAndTheConnectionComesBack) {
  ASSERT_TRUE(redis_.control("pause"));
  SharedAdmission request{"key_down", {}, 0.0, now_ms(), {}};
  request.limits.requests_per_minute = 100;
  const auto start = std::chrono::steady_clock::now();
  SharedVerdict verdict = admit_now(replica_a_, request);
  EXPECT_EQ(verdict.outcome, Outcome::unavailable);
  EXPECT_FALSE(verdict.error.empty());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms) << "no caller waits long on a dead server";
  ASSERT_TRUE(redis_.control("resume"));
  for (int i = 0; i < 300 && admit_now(replica_a_, request).outcome != Outcome::admitted; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(admit_now(replica_a_, request).outcome, Outcome::admitted) << "reconnected, with the scripts loaded anew";
  EXPECT_GT(replica_a_.status().failures_total, 0);
}

}  // namespace
}  // namespace mg::pricing
