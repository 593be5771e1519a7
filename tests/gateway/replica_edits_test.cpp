// Two gateways on one database, as replicas behind a load balancer are: a key revoked through one
// replica's admin API, and a price set by the CLI, reach the other within catalogue_poll_interval. Runs
// on SQLite, and on PostgreSQL in the suite's pg. pass.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "pricing/catalogue.h"
#include "tests/support/mock_upstream.h"
#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kPollInterval{300};
// What a poll's reload may add to the interval on a loaded two-core machine, under the sanitizers.
constexpr std::chrono::milliseconds kReloadAllowance{250};

// `replica` takes `other`'s database and polls it every kPollInterval.
std::function<void(gateway::ServerConfig&)> replica_of(const std::string& db_path) {
  return [db_path](gateway::ServerConfig& config) {
    config.admin_key = kTestAdminKey;
    config.catalogue_poll_interval = kPollInterval;
    if (!db_path.empty()) config.db_path = db_path;
  };
}

// The time from now until `holds` is true, polled every 10 ms; fails past `limit`.
std::chrono::milliseconds time_until(const std::function<bool()>& holds, std::chrono::milliseconds limit) {
  const Clock::time_point start = Clock::now();
  while (!holds()) {
    if (Clock::now() - start > limit) {
      ADD_FAILURE() << "still not after " << limit.count() << " ms";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

int status_of(TestGateway& gateway, const std::string& key) {
  std::optional<RawResponse> response = gateway.post("/v1/chat/completions", chat_body("echo", "hi"), bearer(key));
  return response ? response->status : 0;
}

TEST(ReplicaEditsTest, AKeyRevokedOnOneReplicaIsRefusedByTheOtherWithinThePollInterval) {
  TestGateway first(replica_of(""));
  TestGateway second(replica_of(first.config().db_path));
  json created = create_key_as_admin(first, {{"name", "shared"}});
  const std::string key = created["key"];
  time_until([&] { return status_of(second, key) == 200; }, kPollInterval * 4);

  std::optional<RawResponse> revoked =
      http_request(first.port(), "DELETE", "/admin/keys/" + created["id"].get<std::string>(), "", bearer(kTestAdminKey));
  ASSERT_TRUE(revoked && revoked->status == 200);
  EXPECT_EQ(status_of(first, key), 403) << "the replica that revoked it refuses at once";
  std::chrono::milliseconds taken = time_until([&] { return status_of(second, key) == 403; }, kPollInterval * 4);
  std::printf("the other replica refused the revoked key after %lld ms (poll interval %lld ms)\n", static_cast<long long>(taken.count()),
              static_cast<long long>(kPollInterval.count()));
  EXPECT_LE(taken, kPollInterval + kReloadAllowance);
}

TEST(ReplicaEditsTest, APriceSetWithTheCliChangesTheNextRequestsCostOnEveryReplica) {
  MockUpstream mock;
  TempDir dir;
  const std::string db_path = test_database(dir, "shared.db");
  {
    pricing::Database db = pricing::Database::open(db_path);  // as `modelgate catalogue import` does
    pricing::upsert_provider(db, {"mock", mock.base_url(), "", "openai", true});
    put_route(db, "m", "mock", "mock-ok", 1.0, 2.0);
  }
  TestGateway first(replica_of(db_path));
  TestGateway second(replica_of(db_path));
  auto cost_on = [](TestGateway& replica) {
    std::optional<RawResponse> response = replica.post("/v1/chat/completions", chat_body("m", "hi"));
    if (!response || response->status != 200) return -1.0;
    return json::parse(response->body)["usage"]["cost"].get<double>();
  };
  constexpr double kOldCost = (11 * 1.0 + 4 * 2.0) / 1e6, kNewCost = (11 * 3.0 + 4 * 5.0) / 1e6;  // the mock: 11 in, 4 out
  EXPECT_DOUBLE_EQ(cost_on(first), kOldCost);
  EXPECT_DOUBLE_EQ(cost_on(second), kOldCost);

  {
    pricing::Database db = pricing::Database::open(db_path);  // as `modelgate catalogue set-price m mock 3 5` does
    ASSERT_TRUE(pricing::set_route_price(db, "m", "mock", 3.0, 5.0));
  }
  std::this_thread::sleep_for(kPollInterval + kReloadAllowance);
  EXPECT_DOUBLE_EQ(cost_on(first), kNewCost);
  EXPECT_DOUBLE_EQ(cost_on(second), kNewCost);
  // The ledger agrees with what the clients were told: two rows at each price.
  second.gateway().recorder().flush();
  json rows = ledger_rows(first.gateway(), db_path);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_DOUBLE_EQ(rows[0]["cost_usd"].get<double>() + rows[1]["cost_usd"].get<double>(), 2 * kOldCost);
  EXPECT_DOUBLE_EQ(rows[2]["cost_usd"].get<double>() + rows[3]["cost_usd"].get<double>(), 2 * kNewCost);
}

}  // namespace
}  // namespace mg::test
