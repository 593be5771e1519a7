// Mid-stream failure with and without resume: a route that breaks after two pieces, then a healthy one.
// Without resume the client gets the in-band error and [DONE]; with it, one seamless answer whose text
// is the broken route's part plus the next route's continuation, billed and recorded for both routes.
#include <gtest/gtest.h>

#include "tests/support/mock_upstream.h"
#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

using nlohmann::json;

struct StreamedAnswer {
  std::string text;
  json error_chunk;
  json usage;
  std::vector<std::string> providers;  // each content chunk's provider
  bool ended_with_done = false;
};

StreamedAnswer read_stream(const RawResponse& response) {
  StreamedAnswer answer;
  for (const std::string& line : sse_data_lines(response.body)) {
    if (line == "[DONE]") {
      answer.ended_with_done = true;
      continue;
    }
    json chunk = json::parse(line);
    if (chunk.contains("error")) answer.error_chunk = chunk;
    if (chunk.contains("usage") && !chunk["usage"].is_null()) answer.usage = chunk["usage"];
    if (chunk["choices"].empty() || !chunk["choices"][0]["delta"].contains("content")) continue;
    answer.text += chunk["choices"][0]["delta"]["content"].get<std::string>();
    answer.providers.push_back(chunk["provider"]);
  }
  return answer;
}

class StreamResumeTest : public ::testing::Test {
 protected:
  void start(const std::string& second_dialect, bool resume_in_config = false, const std::string& breaking = "mock-broken") {
    pricing::Database db = pricing::Database::open(db_path_);
    pricing::upsert_provider(db, {"breaks", mock_.base_url(), "", "openai", true});
    pricing::upsert_provider(db, {"continues", mock_.base_url(), "", second_dialect, true});
    put_route(db, "r", "breaks", breaking, 0.5, 0.5);  // cheaper: first in the chain
    put_route(db, "r", "continues", "mock-ok", 1.0, 2.0);
    server_ = std::make_unique<TestGateway>([&](gateway::ServerConfig& config) {
      config.db_path = db_path_;
      config.retry.resume_streams = resume_in_config;
    });
  }

  StreamedAnswer ask(bool resume) {
    json body = chat_body("r", "tell me", true);
    body["stream_options"] = {{"include_usage", true}};
    if (resume) body["modelgate"] = {{"resume", true}};
    auto response = server_->post("/v1/chat/completions", body);
    EXPECT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    return read_stream(*response);
  }

  MockUpstream mock_;
  TempDir dir_;
  std::string db_path_ = test_database(dir_, "resume.db");
  std::unique_ptr<TestGateway> server_;
};

TEST_F(StreamResumeTest, WithoutResumeTheClientGetsTheInBandErrorAndDone) {
  start("openai");
  StreamedAnswer answer = ask(false);
  EXPECT_EQ(answer.text, "Hi from ");
  ASSERT_FALSE(answer.error_chunk.is_null());
  EXPECT_EQ(answer.error_chunk["choices"][0]["finish_reason"], "error");
  EXPECT_TRUE(answer.ended_with_done);
  json rows = ledger_rows(server_->gateway(), db_path_);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["route"], "breaks/r");
  EXPECT_EQ(rows[0]["error_code"], "upstream_unreachable");
  EXPECT_EQ(rows[0]["completion_tokens"], 2) << "the two pieces that went out, estimated: the upstream bills them";
}

TEST_F(StreamResumeTest, WithResumeTheAnswerContinuesSeamlesslyOnTheNextRoute) {
  start("openai");
  StreamedAnswer answer = ask(true);
  EXPECT_TRUE(answer.error_chunk.is_null()) << answer.error_chunk.dump();
  EXPECT_TRUE(answer.ended_with_done);
  EXPECT_EQ(answer.text, "Hi from the mock") << "the partial text plus the continuation";
  EXPECT_EQ(answer.providers, (std::vector<std::string>{"breaks", "breaks", "continues", "continues"}));

  json continued = mock_.last_request();
  ASSERT_FALSE(continued["messages"].empty());
  EXPECT_EQ(continued["messages"].back(), json({{"role", "assistant"}, {"content", "Hi from "}})) << continued.dump();

  // Billed for both parts: 2 estimated pieces on the broken route, 2 reported by the next one.
  EXPECT_EQ(answer.usage["completion_tokens"], 4);
  json rows = ledger_rows(server_->gateway(), db_path_);
  ASSERT_EQ(rows.size(), 1u);
  const json& row = rows[0];
  EXPECT_EQ(row["status"], 200);
  EXPECT_EQ(row["error_code"], "");
  EXPECT_EQ(row["route"], "continues/r");
  ASSERT_EQ(row["routes_tried"].size(), 2u) << row.dump();
  EXPECT_EQ(row["routes_tried"][0]["route"], "breaks/r");
  EXPECT_EQ(row["routes_tried"][0]["streamed"], 2);
  EXPECT_EQ(row["routes_tried"][1]["route"], "continues/r");
  EXPECT_EQ(row["routes_tried"][1]["outcome"], "ok");
  EXPECT_EQ(row["completion_tokens"], 4);
  EXPECT_DOUBLE_EQ(row["cost_usd"].get<double>(), answer.usage["cost"].get<double>());
  double second_part = (11 * 1.0 + 2 * 2.0) / 1e6;  // the mock's usage at the continuing route's prices
  EXPECT_GT(row["cost_usd"].get<double>(), second_part) << "the broken route's part is billed too";
}

TEST_F(StreamResumeTest, TheConfigTurnsResumeOnForEveryStreamAndTheDialectShapesTheAsk) {
  start("mistral", /*resume_in_config=*/true);
  StreamedAnswer answer = ask(false);
  EXPECT_EQ(answer.text, "Hi from the mock");
  EXPECT_EQ(mock_.last_request()["messages"].back(), json({{"role", "assistant"}, {"content", "Hi from "}, {"prefix", true}}));
}

TEST_F(StreamResumeTest, AFinishedAnswerIsNotContinued) {
  start("openai", false, "mock-finish-then-close");
  StreamedAnswer answer = ask(true);
  EXPECT_EQ(answer.text, "Hi from the mock");
  EXPECT_FALSE(answer.error_chunk.is_null()) << "the stream still did not end properly";
  EXPECT_TRUE(answer.ended_with_done);
  EXPECT_EQ(mock_.requests_served(), 1) << "no second route was asked to continue a finished answer";
}

TEST_F(StreamResumeTest, WithNoRouteLeftTheStreamStillEndsWithTheInBandError) {
  pricing::Database db = pricing::Database::open(db_path_);
  pricing::upsert_provider(db, {"breaks", mock_.base_url(), "", "openai", true});
  put_route(db, "alone", "breaks", "mock-broken", 0.5, 0.5);
  server_ = std::make_unique<TestGateway>([&](gateway::ServerConfig& config) { config.db_path = db_path_; });
  json body = chat_body("alone", "tell me", true);
  body["modelgate"] = {{"resume", true}};
  StreamedAnswer answer = read_stream(*server_->post("/v1/chat/completions", body));
  EXPECT_EQ(answer.text, "Hi from ");
  EXPECT_FALSE(answer.error_chunk.is_null());
  EXPECT_TRUE(answer.ended_with_done);
}

}  // namespace
}  // namespace mg::test
