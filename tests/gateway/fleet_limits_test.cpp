// Three replicas behind one key, sharing a database and a real redis-server: a budget and a request rate
// hold for the fleet as a whole, the ledger keeps exactly one row per answer, and Redis going away fails
// open (each replica's own limits) or closed (503 with Retry-After), as configured.
#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/prometheus_text.h"
#include "tests/support/test_servers.h"

namespace mg::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using gateway::SharedStateFailure;

json echo() {
  json body = chat_body("echo", "hello there");
  body["max_tokens"] = 8;
  return body;
}

class Fleet {
 public:
  explicit Fleet(SharedStateFailure on_failure = SharedStateFailure::open) : db_path_(test_database(dir_, "fleet.db")) {
    for (int i = 0; i < 3; ++i) {
      replicas_.push_back(std::make_unique<TestGateway>([&](gateway::ServerConfig& config) {
        config.admin_key = kTestAdminKey;
        config.db_path = db_path_;
        config.redis_url = redis_.url();
        config.shared_state_failure = on_failure;
        config.catalogue_poll_interval = 100ms;
      }));
    }
  }
  TestGateway& replica(int i) { return *replicas_[static_cast<std::size_t>(i % 3)]; }
  TestServer& redis() { return redis_; }
  const std::string& db_path() const { return db_path_; }

  // A key made on the first replica, once every replica takes it.
  std::string key_with(const json& limits) {
    json created = create_key_as_admin(replica(0), limits);
    const std::string key = created["key"];
    const std::string id = created["id"];
    for (int i = 0; i < 3; ++i) {
      for (int wait = 0; wait < 100 && !knows_key(i, id); ++wait) std::this_thread::sleep_for(20ms);
    }
    return key;
  }
  bool knows_key(int replica_index, const std::string& id) {
    std::optional<RawResponse> keys = http_request(replica(replica_index).port(), "GET", "/admin/keys", "", bearer(kTestAdminKey));
    return keys && keys->body.find(id) != std::string::npos;
  }
  int status(int replica_index, const std::string& key) {
    std::optional<RawResponse> response = replica(replica_index).post("/v1/chat/completions", echo(), bearer(key));
    return response ? static_cast<int>(response->status) : 0;
  }
  // Every replica's ledger rows written, then all of them.
  json ledger() {
    for (auto& replica : replicas_) replica->gateway().recorder().flush();
    return ledger_rows(replica(0).gateway(), db_path_);
  }

 private:
  TestServer redis_{TestServer::Kind::redis};
  TempDir dir_;
  std::string db_path_;
  std::vector<std::unique_ptr<TestGateway>> replicas_;
};

// 32 clients, each on one replica in turn, until `stop` says so for each status; counts each status.
std::map<int, int> thirty_two_clients(Fleet& fleet, const std::string& key, const std::function<bool(int status)>& client_stops) {
  std::mutex mutex;
  std::map<int, int> statuses;
  std::vector<std::thread> clients;
  for (int i = 0; i < 32; ++i) {
    clients.emplace_back([&, i] {
      for (int attempt = 0; attempt < 400; ++attempt) {
        int status = fleet.status(i + attempt, key);
        {
          std::lock_guard lock(mutex);
          ++statuses[status];
        }
        if (client_stops(status)) return;
      }
    });
  }
  for (std::thread& client : clients) client.join();
  return statuses;
}

TEST(FleetLimitsTest, ThirtyTwoClientsOnThreeReplicasEndABudgetAtMostOneRequestPast) {
  Fleet fleet;
  constexpr double kBudgetUsd = 0.0005;  // about fifty requests at the fake provider's $1 / $2 per million
  const std::string key = fleet.key_with({{"name", "shared"}, {"budget_usd_total", kBudgetUsd}});
  std::map<int, int> statuses = thirty_two_clients(fleet, key, [](int status) { return status != 200 && status != 429; });
  EXPECT_EQ(statuses[402], 32) << "every client ends on 402";
  double spent = 0, dearest = 0;
  int answered = 0;
  json rows = fleet.ledger();
  for (const json& row : rows) {
    spent += row["cost_usd"].get<double>();
    dearest = std::max(dearest, row["cost_usd"].get<double>());
    answered += row["status"] == 200;
  }
  std::printf("fleet budget $%g: %d answered, %d told to wait, spent $%g, one request at most $%g\n", kBudgetUsd, statuses[200],
              statuses[429], spent, dearest);
  EXPECT_EQ(answered, statuses[200]);
  int responses = 0;
  for (const auto& [status, count] : statuses) responses += count;
  EXPECT_EQ(static_cast<int>(rows.size()), responses) << "one ledger row per answer";
  EXPECT_GE(spent, kBudgetUsd);
  EXPECT_LE(spent, kBudgetUsd + dearest + 1e-12);
}

TEST(FleetLimitsTest, A600RpmKeyAdmits600RequestsAMinuteAcrossThreeReplicas) {
  Fleet fleet;
  const std::string key = fleet.key_with({{"name", "rpm"}, {"requests_per_minute", 600}});
  std::atomic<int> refused{0};
  std::map<int, int> statuses = thirty_two_clients(fleet, key, [&](int status) { return status == 429 && ++refused > 320; });
  std::printf("600 rpm across three replicas: %d admitted, %d refused with 429\n", statuses[200], statuses[429]);
  EXPECT_EQ(statuses[200], 600);
  EXPECT_EQ(statuses.size(), 2u) << "200 and 429 only";
}

TEST(FleetLimitsTest, RedisStoppedFailsOpenOnEachReplicasOwnLimitsAndComesBack) {
  Fleet fleet(SharedStateFailure::open);
  const std::string key = fleet.key_with({{"name", "open"}, {"requests_per_minute", 1000}});
  ASSERT_TRUE(fleet.redis().control("pause"));
  for (int i = 0; i < 30; ++i) EXPECT_EQ(fleet.status(i, key), 200) << "the replicas' own limits admit it";
  json health = fleet.replica(0).health();
  EXPECT_FALSE(health["shared_state"]["connected"].get<bool>()) << health.dump();
  EXPECT_GT(health["shared_state"]["admitted_by_replica_alone"].get<int>(), 0);
  std::optional<RawResponse> metrics = fleet.replica(1).get_as_operator("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("modelgate_shared_state_up 0"), std::string::npos);
  EXPECT_NE(metrics->body.find("modelgate_shared_state_fallbacks_total{outcome=\"admitted_by_replica_alone\"}"), std::string::npos);

  ASSERT_TRUE(fleet.redis().control("resume"));
  fleet.replica(0).wait_for_health([](const json& h) { return h["shared_state"]["connected"] == true; }, 5s);
  const int fallbacks = fleet.replica(0).health()["shared_state"]["admitted_by_replica_alone"];
  EXPECT_EQ(fleet.status(0, key), 200);
  EXPECT_EQ(fleet.replica(0).health()["shared_state"]["admitted_by_replica_alone"].get<int>(), fallbacks) << "the fleet checks again";
  int answers = 0;
  for (const json& row : fleet.ledger()) answers += row["status"] == 200;
  EXPECT_EQ(answers, 31);
}

TEST(FleetLimitsTest, RedisStoppedFailsClosedWith503AndRetryAfterForKeysWithLimits) {
  Fleet fleet(SharedStateFailure::closed);
  const std::string limited = fleet.key_with({{"name", "limited"}, {"budget_usd_day", 5}});
  const std::string unlimited = fleet.key_with({{"name", "free"}});
  ASSERT_TRUE(fleet.redis().control("pause"));
  std::optional<RawResponse> refused = fleet.replica(1).post("/v1/chat/completions", echo(), bearer(limited));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503) << refused->body;
  EXPECT_EQ(refused->header("retry-after"), "1");
  EXPECT_EQ(json::parse(refused->body)["error"]["code"], "shared_state_unavailable");
  EXPECT_EQ(fleet.status(2, unlimited), 200) << "a key without limits has nothing to check";
  ASSERT_TRUE(fleet.redis().control("resume"));
  fleet.replica(1).wait_for_health([](const json& h) { return h["shared_state"]["connected"] == true; }, 5s);
  EXPECT_EQ(fleet.status(1, limited), 200);
  json rows = fleet.ledger();
  int unavailable = 0;
  for (const json& row : rows) unavailable += row["error_code"] == "shared_state_unavailable";
  EXPECT_EQ(unavailable, 1) << "the refusal has its ledger row";
}

}  // namespace
}  // namespace mg::test
