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

// A lease of `requests` requests of 10 cents at most each, for a key with a request rate and a budget.
SharedAdmission lease_of_requests_at_10_cents(const std::string& key_id, std::int64_t requests_per_minute, double budget_usd,
                                             std::int64_t requests) {
  SharedAdmission request{key_id, {}, 0.1, now_ms(), {}};
  request.limits.requests_per_minute = requests_per_minute;
  request.limits.budget_usd_total = budget_usd;
  request.requests_wanted = requests;
  request.usd_wanted = 0.1 * static_cast<double>(requests);
  request.use_for = 1s;
  return request;
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
  SharedAdmission request = lease_of_requests_at_10_cents("key_leased", 10, 1.0, 8);
  SharedVerdict first = admit_now(replica_a_, request);
  ASSERT_EQ(first.outcome, Outcome::admitted);
  EXPECT_EQ(first.granted_requests, 2) << "a quarter of the 10 slots free";
  EXPECT_DOUBLE_EQ(first.granted_usd, 0.25) << "a quarter of the $1 left";
  SharedVerdict second = admit_now(replica_b_, request);
  ASSERT_EQ(second.outcome, Outcome::admitted);
  EXPECT_EQ(second.granted_requests, 2) << "a quarter of the 8 slots free";
  EXPECT_DOUBLE_EQ(second.granted_usd, 0.1875) << "a quarter of the $0.75 left";

  replica_a_.settle({request.key_id, first.lease_id, 0.05, 0, now_ms(), 1, std::nullopt});  // used 1 slot of 2, $0.05
  SharedAdmission single = request;
  single.requests_wanted = 1;
  single.usd_wanted = 0;
  int admitted = 0;
  for (SharedVerdict verdict; (verdict = admit_now(replica_a_, single)).outcome == Outcome::admitted && admitted < 20; ++admitted) {
    EXPECT_EQ(verdict.granted_requests, 1);
    replica_a_.settle({request.key_id, verdict.lease_id, 0, 0, now_ms(), 1, std::nullopt});
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
        replica.settle({request.key_id, verdict.lease_id, kCost, 10, now_ms(), 1, std::nullopt});
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
  replica_a_.settle({"key_seeded", first.lease_id, 0.5, 0, now_ms(), 1, std::nullopt});
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
    stopping.settle({request.key_id, verdict.lease_id, 1.0, 0, now_ms(), 1, std::nullopt});
  }  // destroyed at once, the settlement still in its buffer
  SharedVerdict after = admit_now(replica_a_, request);
  EXPECT_EQ(after.outcome, Outcome::budget_spent) << "the settlement was lost";
  EXPECT_DOUBLE_EQ(after.spent_usd, 1.0);
}

// A lease retired with requests still in flight gives back at once what they do not hold; its final
// settlement frees the rest. Each settlement counts once, however often it is sent.
TEST_F(SharedCountersTest, ARetiredLeaseGivesBackWhatItsRequestsInFlightDoNotHold) {
  SharedAdmission request = lease_of_requests_at_10_cents("key_retired", 40, 4.0, 10);
  SharedVerdict lease = admit_now(replica_a_, request);
  ASSERT_EQ(lease.outcome, Outcome::admitted);
  ASSERT_EQ(lease.granted_requests, 10);
  ASSERT_DOUBLE_EQ(lease.granted_usd, 1.0);
  // Retired after 3 requests: one ended ($0.05), two still in flight holding $0.1 each.
  const SharedSettlement retired{request.key_id, lease.lease_id, 0.05, 0, now_ms(), 3, 0.2};
  replica_a_.settle(retired);
  replica_a_.settle(retired);  // sent again (its answer was lost): counted once
  SharedAdmission all_the_rest = request;
  all_the_rest.requests_wanted = 1000;
  all_the_rest.usd_wanted = 1000;
  SharedVerdict next = admit_now(replica_a_, all_the_rest);
  ASSERT_EQ(next.outcome, Outcome::admitted);
  EXPECT_EQ(next.granted_requests, (40 - 3) / 4) << "the 7 slots not used are free again";
  EXPECT_DOUBLE_EQ(next.granted_usd, (4.0 - 0.05 - 0.2) / 4) << "$0.2 held for the two in flight, the rest free";

  replica_a_.settle({request.key_id, lease.lease_id, 0.15, 0, now_ms(), 3, std::nullopt});  // the two ended
  replica_a_.settle({request.key_id, next.lease_id, 0, 0, now_ms(), 0, std::nullopt});
  SharedVerdict last = admit_now(replica_a_, all_the_rest);
  ASSERT_EQ(last.outcome, Outcome::admitted);
  EXPECT_EQ(last.granted_requests, (40 - 3) / 4);
  EXPECT_DOUBLE_EQ(last.granted_usd, (4.0 - 0.2) / 4) << "spent $0.20 in all, nothing held";
}

// A settlement whose answer did not come (Redis frozen past the command's deadline) is kept and sent
// again once Redis answers. Redis ran the first one too, when it woke: it counts once all the same.
TEST_F(SharedCountersTest, ASettlementWithoutAnAnswerIsSentAgainAndCountsOnce) {
  SharedAdmission request{"key_unsent", {}, 0.5, now_ms(), {}};
  request.limits.budget_usd_total = 2.0;
  SharedVerdict lease = admit_now(replica_a_, request);
  ASSERT_EQ(lease.outcome, Outcome::admitted);
  ASSERT_TRUE(redis_.control("freeze"));
  replica_a_.settle({request.key_id, lease.lease_id, 1.0, 0, now_ms(), 1, std::nullopt});
  for (int i = 0; i < 100 && replica_a_.settlements_unsent() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(replica_a_.settlements_unsent(), 1);
  ASSERT_TRUE(redis_.control("thaw"));
  for (int i = 0; i < 300 && replica_a_.settlements_unsent() > 0; ++i) {
    replica_a_.retry_unsent();
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(replica_a_.settlements_unsent(), 0);
  EXPECT_EQ(replica_a_.settlements_lost(), 0);
  request.worst_case_cost_usd = 1.5;
  SharedVerdict after = admit_now(replica_a_, request);
  EXPECT_EQ(after.outcome, Outcome::admitted) << "$1 spent once, not twice: $1 left, none held";
  EXPECT_DOUBLE_EQ(after.granted_usd, 1.5) << "the one request past a budget: nothing else is in flight";
  request.worst_case_cost_usd = 0.1;
  SharedVerdict spent = admit_now(replica_b_, request);
  EXPECT_EQ(spent.outcome, Outcome::budget_held);
  EXPECT_DOUBLE_EQ(spent.spent_usd, 1.0);
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
