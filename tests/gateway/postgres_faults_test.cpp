// The gateway on a PostgreSQL server that goes away: restarted under traffic, and down when the gateway
// stops. Answers keep flowing, and the ledger ends with exactly one row per answered request. Each test
// starts a server of its own (tests/support/postgres_server.sh), so it runs in the suite's pg. pass.
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/test_gateway.h"
#include "tests/support/test_servers.h"

namespace mg::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::int64_t ledger_count(const std::string& url) {
  pricing::Database db = pricing::Database::open(url);
  pricing::Statement query = db.prepare("SELECT COUNT(*) FROM usage_ledger");
  query.step();
  return query.integer(0);
}

// Clients sending completions until stopped; counts the answers.
class Traffic {
 public:
  Traffic(std::uint16_t port, int clients) {
    for (int i = 0; i < clients; ++i) {
      threads_.emplace_back([this, port] {
        RawConnection connection(port);
        while (!stop_) {
          if (!connection.send(build_request("POST", "/v1/chat/completions", chat_body("echo", "hello").dump()))) return;
          std::optional<RawResponse> response = connection.read_response();
          if (!response) return;
          ++answered_;
          if (response->status != 200) ++failed_;
        }
      });
    }
  }
  ~Traffic() { stop(); }
  void stop() {
    stop_ = true;
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  int answered() const { return answered_; }
  int failed() const { return failed_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> answered_{0}, failed_{0};
  std::vector<std::thread> threads_;
};

TEST(PostgresFaultsTest, ARestartDuringTrafficDelaysTheLedgerButLosesNoRowAndNoAnswer) {
  if (!testing_postgres()) GTEST_SKIP() << "runs in the suite's pg. pass";
  TestServer server(TestServer::Kind::postgres);
  const std::string url = server.url();
  int answered = 0;
  {
    TestGateway gateway([&](gateway::ServerConfig& config) { config.db_path = url; });
    Traffic traffic(gateway.port(), 4);
    std::this_thread::sleep_for(300ms);
    ASSERT_TRUE(server.control("restart"));
    std::this_thread::sleep_for(700ms);
    traffic.stop();
    answered = traffic.answered();
    EXPECT_GT(answered, 50);
    EXPECT_EQ(traffic.failed(), 0) << "answers never wait on the database";
  }  // the gateway's stop writes what waits
  std::printf("%d requests answered across the restart, %lld ledger rows\n", answered, static_cast<long long>(ledger_count(url)));
  EXPECT_EQ(ledger_count(url), answered);
}

TEST(PostgresFaultsTest, RowsTheServerCouldNotTakeAtStopAreSpilledAndMergedAtTheNextStart) {
  if (!testing_postgres()) GTEST_SKIP() << "runs in the suite's pg. pass";
  TestServer server(TestServer::Kind::postgres);
  const std::string url = server.url();
  TempDir state;
  auto on_server = [&](gateway::ServerConfig& config) {
    config.db_path = url;
    config.state_dir = state.path().string();
    config.shutdown_grace = 500ms;
  };
  int answered = 0;
  {
    TestGateway gateway(on_server);
    ASSERT_TRUE(server.control("pause"));
    Traffic traffic(gateway.port(), 2);
    std::this_thread::sleep_for(300ms);
    traffic.stop();
    answered = traffic.answered();
    EXPECT_EQ(traffic.failed(), 0);
    EXPECT_TRUE(gateway.health()["ledger"]["failing"].get<bool>());
  }  // the recorder gives up after its grace at stop: the rows go to the spill file
  ASSERT_GT(answered, 0);
  ASSERT_TRUE(server.control("resume"));
  { TestGateway next_start(on_server); }  // merges the spill file as it starts
  EXPECT_EQ(ledger_count(url), answered);
}

}  // namespace
}  // namespace mg::test
