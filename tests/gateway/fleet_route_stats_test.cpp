// Routing on the fleet's measurements: two replicas share a database and a real redis-server; what one
// replica's calls see on a route (failures, TTFT, throughput) reaches the other within a couple of
// seconds, which then routes on it.
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/mock_upstream.h"
#include "tests/support/test_servers.h"

namespace mg::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class FleetRouteStatsTest : public ::testing::Test {
 protected:
  FleetRouteStatsTest() {
    pricing::Database db = pricing::Database::open(db_path_);
    pricing::upsert_provider(db, {"faulty", mock_.base_url(), "", "openai", true});
    pricing::upsert_provider(db, {"healthy", mock_.base_url(), "", "openai", true});
    put_route(db, "f", "faulty", "mock-500", 0.1, 0.1);  // cheaper: first in every chain while it is not skipped
    put_route(db, "f", "healthy", "mock-ok", 0.2, 0.2);
    for (int i = 0; i < 2; ++i) {
      replicas_.push_back(std::make_unique<TestGateway>([this](gateway::ServerConfig& config) {
        config.admin_key = kTestAdminKey;
        config.db_path = db_path_;
        config.redis_url = redis_.url();
        config.retry.backoff_initial = 10ms;
        config.retry.max_retry_after = 100ms;
      }));
    }
  }

  TestGateway& replica(int i) { return *replicas_[static_cast<std::size_t>(i)]; }

  // Upstream requests one answer on `replica_index` took, and its status.
  std::pair<int, int> ask(int replica_index) {
    const int before = mock_.requests_served();
    std::optional<RawResponse> answer = replica(replica_index).post("/v1/chat/completions", chat_body("f", "hello"));
    return {mock_.requests_served() - before, answer ? static_cast<int>(answer->status) : 0};
  }

  // The route's entry in the replica's dashboard data.
  json route_on(int replica_index, const std::string& route) {
    std::optional<RawResponse> data = http_request(replica(replica_index).port(), "GET", "/dashboard/data", "", bearer(kTestAdminKey));
    const json dashboard = json::parse(data->body);
    for (const json& entry : dashboard["routes"]) {
      if (entry["route"] == route) return entry;
    }
    ADD_FAILURE() << "no route " << route << " in " << data->body.substr(0, 2000);
    return json();
  }

  // Waits until `holds` is true of the route's entry on the replica (the fleet exchanges once a second).
  json wait_for_route(int replica_index, const std::string& route, const std::function<bool(const json&)>& holds) {
    json entry;
    for (int i = 0; i < 50; ++i) {
      entry = route_on(replica_index, route);
      if (holds(entry)) break;
      std::this_thread::sleep_for(100ms);
    }
    return entry;
  }

  TestServer redis_{TestServer::Kind::redis};
  MockUpstream mock_;
  TempDir dir_;
  std::string db_path_ = test_database(dir_, "fleet-routes.db");
  std::vector<std::unique_ptr<TestGateway>> replicas_;
};

TEST_F(FleetRouteStatsTest, ARouteOneReplicaSeesFailingIsSkippedByTheOther) {
  auto [first_calls, first_status] = ask(1);
  EXPECT_EQ(first_status, 200);
  EXPECT_GE(first_calls, 2) << "before any failure is known, replica 1 tries the cheaper, failing route first";

  for (int i = 0; i < 12; ++i) EXPECT_EQ(ask(0).second, 200) << "replica 0 falls back to the healthy route";
  json faulty = wait_for_route(1, "faulty/f", [](const json& entry) { return entry.contains("fleet") && entry["fleet"]["failing"] == true; });
  ASSERT_TRUE(faulty.contains("fleet")) << faulty.dump();
  EXPECT_TRUE(faulty["fleet"]["failing"]) << faulty.dump();
  EXPECT_GE(faulty["fleet"]["failures"], 5) << "replica 0's failures (until its own circuit opened), counted on replica 1";
  EXPECT_EQ(faulty["circuit"], "closed") << "replica 1's own breaker saw only one failure";

  auto [calls, status] = ask(1);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(calls, 1) << "replica 1 went straight to the healthy route";
}

TEST_F(FleetRouteStatsTest, MeasuredFiguresAreTheFleetsOnEveryReplica) {
  for (int i = 0; i < 12; ++i) ask(0);
  json healthy = wait_for_route(1, "healthy/f", [](const json& entry) { return entry["samples"].get<int>() >= 12; });
  EXPECT_GE(healthy["samples"], 12) << "replica 0's calls, measured on replica 1: " << healthy.dump();
  EXPECT_TRUE(healthy["measured_ttft_ms"].is_number()) << healthy.dump();
  EXPECT_EQ(healthy["success_rate"], 1.0) << healthy.dump();
  json health = json::parse(http_request(replica(1).port(), "GET", "/health", "", bearer(kTestAdminKey))->body);
  EXPECT_GT(health["shared_state"]["route_stats"]["exchanges"].get<int>(), 0) << health.dump();
}

TEST_F(FleetRouteStatsTest, WithRedisGoneEachReplicaRoutesOnItsOwnFigures) {
  for (int i = 0; i < 12; ++i) ask(0);
  wait_for_route(1, "faulty/f", [](const json& entry) { return entry.contains("fleet") && entry["fleet"]["failing"] == true; });
  ASSERT_TRUE(redis_.control("pause"));
  json faulty = wait_for_route(1, "faulty/f", [](const json& entry) { return !entry.contains("fleet"); });
  EXPECT_FALSE(faulty.contains("fleet")) << faulty.dump();
  EXPECT_GE(ask(1).first, 2) << "replica 1 knows nothing of the failures any more: it tries the route itself";
  ASSERT_TRUE(redis_.control("resume"));
}

}  // namespace
}  // namespace mg::test
