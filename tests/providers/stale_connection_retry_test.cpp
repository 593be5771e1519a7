// A pooled keep-alive connection that fails before the upstream's answer (here: the upstream sends the
// first bytes of a head and closes) is retried once, silently, on a fresh connection. The fresh
// connection's answer must be taken as it is, with nothing of the failed attempt mixed in, and the
// upstream must be asked once per attempt. Once a whole head has arrived the upstream has answered: no
// silent retry then (the router's own retry, an attempt of its own in the ledger, is another matter).
#include <gtest/gtest.h>

#include "tests/support/mock_upstream.h"
#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

using nlohmann::json;

class StaleConnectionRetryTest : public ::testing::TestWithParam<bool> {
 protected:
  StaleConnectionRetryTest() {
    pricing::Database db = pricing::Database::open(db_path_);
    pricing::upsert_provider(db, {"mock", mock_.base_url(), "", "openai", true});
    put_route(db, "m", "mock", "mock-ok", 1.0, 1.0);
    server_ = std::make_unique<TestGateway>([this](gateway::ServerConfig& config) {
      config.db_path = db_path_;
      config.io_threads = 1;  // one I/O thread, so one pooled upstream connection that every request reuses
      config.retry.backoff_initial = std::chrono::milliseconds(10);
    });
  }

  bool streamed() const { return GetParam(); }

  void expect_healthy_answer(const char* which) {
    auto response = server_->post("/v1/chat/completions", chat_body("m", "hello upstream", streamed()));
    ASSERT_TRUE(response) << which;
    ASSERT_EQ(response->status, 200) << which << ": " << response->body;
    EXPECT_EQ(answer_text(*response, streamed()), "Hi from the mock") << which;
  }

  json ledger() { return ledger_rows(server_->gateway(), db_path_); }

  MockUpstream mock_;
  TempDir dir_;
  std::string db_path_ = test_database(dir_, "retry.db");
  std::unique_ptr<TestGateway> server_;
};

TEST_P(StaleConnectionRetryTest, ATruncatedHeadOnAReusedConnectionIsRetriedAndTheFreshAnswerAccepted) {
  expect_healthy_answer("first request (opens the pooled connection)");
  ASSERT_EQ(mock_.requests_served(), 1);
  ASSERT_EQ(mock_.connections_accepted(), 1);

  mock_.reply_raw_to_request(2, "HTTP/1.1 200 OK\r\nContent-Type: applic");  // then the mock closes
  expect_healthy_answer("second request (truncated head on the reused connection, then a fresh one)");
  EXPECT_EQ(mock_.requests_served(), 3) << "one upstream request per attempt: the truncated one and its retry";
  EXPECT_EQ(mock_.connections_accepted(), 2) << "the retry opened one fresh connection";

  expect_healthy_answer("third request (on the retry's connection, pooled in turn)");
  EXPECT_EQ(mock_.requests_served(), 4);
  EXPECT_EQ(mock_.connections_accepted(), 2);

  json rows = ledger();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1]["status"], 200);
  EXPECT_EQ(rows[1]["routes_tried"].size(), 1u) << "the silent retry is part of one attempt: " << rows[1].dump();
}

TEST_P(StaleConnectionRetryTest, AWholeHeadThenACloseIsNotRetriedSilently) {
  expect_healthy_answer("first request (opens the pooled connection)");
  std::string head = streamed() ? "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                                : "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"choi";
  mock_.reply_raw_to_request(2, head);
  expect_healthy_answer("second request (answered, then broken: the router retries)");
  json rows = ledger();
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_EQ(rows[1]["routes_tried"].size(), 2u) << "the broken answer is an attempt of its own: " << rows[1].dump();
  EXPECT_EQ(rows[1]["routes_tried"][1]["outcome"], "ok");
  EXPECT_EQ(mock_.requests_served(), 3);
}

INSTANTIATE_TEST_SUITE_P(WholeAndStreamed, StaleConnectionRetryTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param) { return param.param ? "Streamed" : "Whole"; });

}  // namespace
}  // namespace mg::test
