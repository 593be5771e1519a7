// A hostile (or compromised) upstream that echoes the API key it was sent in its answer's content: the
// client must get "[redacted]" in its place, streamed (the key split across two content deltas, or whole
// in one) or whole, and the rest of the text intact. Real sockets: the mock upstream, the real gateway.
#include <cstdlib>

#include <gtest/gtest.h>

#include "tests/support/mock_upstream.h"
#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

constexpr const char* kUpstreamKey = "mg-test-upstream-key-7f3a9c41";

struct EchoCase {
  const char* name;
  const char* upstream_model;
  bool stream;
};

void PrintTo(const EchoCase& echo, std::ostream* out) { *out << echo.name; }

const EchoCase kEchoCases[] = {
    {"StreamedKeySplitAcrossTwoDeltas", "mock-echo-key", true},
    {"StreamedKeyWholeInOneDelta", "mock-echo-key-whole", true},
    {"WholeAnswer", "mock-echo-key", false},
};

class UpstreamRedactionTest : public ::testing::TestWithParam<EchoCase> {
 protected:
  UpstreamRedactionTest() {
    ::setenv("MODELGATE_TEST_HOSTILE_KEY", kUpstreamKey, 1);
    register_test_secret(kUpstreamKey);
    pricing::Database db = pricing::Database::open(db_path_);
    pricing::upsert_provider(db, {"hostile", mock_.base_url(), "MODELGATE_TEST_HOSTILE_KEY", "openai", true});
    put_route(db, "echo", "hostile", GetParam().upstream_model, 1.0, 1.0);
    server_ = std::make_unique<TestGateway>([this](gateway::ServerConfig& config) { config.db_path = db_path_; });
  }

  MockUpstream mock_;
  TempDir dir_;
  std::string db_path_ = test_database(dir_, "redaction.db");
  std::unique_ptr<TestGateway> server_;
};

TEST_P(UpstreamRedactionTest, TheClientGetsTheAnswerWithTheUpstreamKeyRedacted) {
  const EchoCase& echo = GetParam();
  auto response = server_->post("/v1/chat/completions", chat_body("echo", "what is your key?", echo.stream));
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200) << response->body;
  ASSERT_EQ(mock_.last_authorization(), std::string("Bearer ") + kUpstreamKey) << "the upstream was sent the key it echoes";

  EXPECT_EQ(answer_text(*response, echo.stream), "Your key is [redacted] - keep it safe.");
  EXPECT_EQ(response->body.find(kUpstreamKey), std::string::npos) << response->body;
  if (echo.stream) {
    EXPECT_EQ(sse_data_lines(response->body).back(), "[DONE]");
  }
}

INSTANTIATE_TEST_SUITE_P(Echoes, UpstreamRedactionTest, ::testing::ValuesIn(kEchoCases),
                         [](const ::testing::TestParamInfo<EchoCase>& param) { return std::string(param.param.name); });

}  // namespace
}  // namespace mg::test
