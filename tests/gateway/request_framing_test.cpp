// Request smuggling over a real socket: every request whose length or headers two HTTP parties could read
// differently is refused (400, or 501 for a coding not served) and its connection closed, and the request
// hidden in its body is never executed.
#include <gtest/gtest.h>

#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

using nlohmann::json;

// A request of its own inside the first one's body: answered, it would show in /health's request count.
constexpr std::string_view kSmuggled = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";

struct FramingCase {
  const char* name;
  std::string head;  // request line and headers, without the blank line
  bool content_length;  // adds a Content-Length that covers the smuggled request
  int status;
};

void PrintTo(const FramingCase& test_case, std::ostream* out) { *out << test_case.name; }

const std::string kPost = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";

const FramingCase kFramingCases[] = {
    {"ChunkedThenIdentity", kPost + "Transfer-Encoding: chunked, identity\r\n", false, 400},
    {"Gzip", kPost + "Transfer-Encoding: gzip\r\n", false, 400},
    {"XChunked", kPost + "Transfer-Encoding: xchunked\r\n", false, 400},
    {"Identity", kPost + "Transfer-Encoding: identity\r\n", false, 400},
    {"EmptyTransferEncoding", kPost + "Transfer-Encoding: \r\n", false, 400},
    {"ChunkedOnOneLineIdentityOnTheNext", kPost + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", false, 400},
    {"XChunkedWithContentLength", kPost + "Transfer-Encoding: xchunked\r\n", true, 400},
    {"IdentityWithContentLength", kPost + "Transfer-Encoding: identity\r\n", true, 400},
    {"ChunkedWithContentLength", kPost + "Transfer-Encoding: chunked\r\n", true, 400},
    {"ChunkedTwice", kPost + "Transfer-Encoding: chunked, chunked\r\n", false, 400},
    {"ChunkedInHttp10", "POST /v1/chat/completions HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n", false, 400},
    {"GzipThenChunkedIsNotImplemented", kPost + "Transfer-Encoding: gzip, chunked\r\n", false, 501},
    {"NoHost", "POST /v1/chat/completions HTTP/1.1\r\nContent-Type: application/json\r\n", true, 400},
    {"TwoHosts", kPost + "Host: y\r\n", true, 400},
    {"HostWithSpace", "POST /v1/chat/completions HTTP/1.1\r\nHost: a b\r\n", true, 400},
    {"HostWithALetterPort", "POST /v1/chat/completions HTTP/1.1\r\nHost: a:xx\r\n", true, 400},
    {"HostWithTwoColons", "POST /v1/chat/completions HTTP/1.1\r\nHost: a:1:2\r\n", true, 400},
    {"TwoAuthorizations", kPost + "Authorization: Bearer one\r\nAuthorization: Bearer two\r\n", true, 400},
};

class RequestFramingTest : public ::testing::TestWithParam<FramingCase> {
 protected:
  TestGateway server_;
};

std::int64_t requests_answered(TestGateway& server) { return server.health()["requests_total"].get<std::int64_t>(); }

TEST_P(RequestFramingTest, IsRefusedClosedAndNothingInItsBodyRuns) {
  const FramingCase& c = GetParam();
  std::int64_t before = requests_answered(server_);

  std::string request = c.head;
  if (c.content_length) request += "Content-Length: " + std::to_string(kSmuggled.size()) + "\r\n";
  request += "\r\n";
  request += kSmuggled;
  RawConnection connection(server_.port());
  ASSERT_TRUE(connection.send(request));
  std::optional<RawResponse> response = connection.read_response();
  ASSERT_TRUE(response) << "no answer";
  EXPECT_EQ(response->status, c.status) << response->body;
  EXPECT_EQ(response->header("connection"), "close");
  json error = json::parse(response->body)["error"];
  EXPECT_TRUE(error["message"].is_string()) << response->body;
  EXPECT_FALSE(connection.read_response(std::chrono::milliseconds(500))) << "a second answer: the smuggled request ran";
  EXPECT_TRUE(connection.wait_closed());

  // Only this check's own /health was read since: the smuggled one never was.
  EXPECT_EQ(requests_answered(server_), before + 1);
}

INSTANTIATE_TEST_SUITE_P(Smuggling, RequestFramingTest, ::testing::ValuesIn(kFramingCases),
                         [](const auto& test_case) { return std::string(test_case.param.name); });

// Beast keeps a chunk's header line and the trailer section whole until they end; the client's buffer is
// bounded, so an endless one is refused instead of growing the process (64 MiB took +143 MiB before).
class UnboundedChunkFramingTest : public ::testing::TestWithParam<std::pair<const char*, std::string>> {};

TEST_P(UnboundedChunkFramingTest, IsRefusedWith400BeforeItIsWhole) {
  TestGateway server;
  RawConnection connection(server.port());
  ASSERT_TRUE(connection.send(kPost + "Transfer-Encoding: chunked\r\n\r\n" + GetParam().second));
  std::string endless(1 << 20, 'a');
  for (int i = 0; i < 8 && connection.send(endless); ++i) {
  }
  std::optional<RawResponse> response = connection.read_response();
  ASSERT_TRUE(response) << "no answer";
  EXPECT_EQ(response->status, 400) << response->body;
  EXPECT_TRUE(connection.wait_closed());
}

INSTANTIATE_TEST_SUITE_P(Framing, UnboundedChunkFramingTest,
                         ::testing::Values(std::make_pair("ChunkExtension", std::string("1;")),
                                           std::make_pair("Trailer", std::string("1\r\n{\r\n0\r\nX-a: "))),
                         [](const auto& test_case) { return std::string(test_case.param.first); });

// The answer to `request`, sent alone to a gateway of its own.
RawResponse answer_to(const std::string& request) {
  TestGateway server;
  RawConnection connection(server.port());
  EXPECT_TRUE(connection.send(request));
  return connection.read_response().value_or(RawResponse{});
}

// The sound forms still work: chunked in any case, a target in absolute form, empty lines before the
// request line (RFC 9112 2.2), HTTP/1.0 without Host.
TEST(RequestFramingSoundTest, ChunkedBodyIsAnswered) {
  std::string body = chat_body("echo", "chunked hello").dump();
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size());
  RawResponse response = answer_to(kPost + "Transfer-Encoding: Chunked\r\n\r\n" + size + "\r\n" + body + "\r\n0\r\n\r\n");
  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_NE(response.body.find("chunked hello"), std::string::npos);
}

TEST(RequestFramingSoundTest, AnAbsoluteFormTargetAndLeadingEmptyLinesAreAccepted) {
  RawResponse response = answer_to("\r\n\r\nGET http://127.0.0.1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_NE(response.body.find("\"status\":\"ok\""), std::string::npos) << response.body;
}

TEST(RequestFramingSoundTest, Http10WithoutHostIsAnswered) {
  RawResponse response = answer_to("GET /health HTTP/1.0\r\n\r\n");
  EXPECT_EQ(response.status, 200) << response.body;
}

}  // namespace
}  // namespace mg::test
