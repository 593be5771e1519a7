// Hostile and broken input against the real server over loopback: every case must get the right status
// and an OpenAI error object (or a clean close where no answer is owed), and the server must keep serving.
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using namespace std::string_view_literals;

class HostileInputTest : public ::testing::Test {
 protected:
  void TearDown() override {
    // Whatever the case did, the server still answers, and nothing it started is left running.
    auto health = server_.get("/health");
    ASSERT_TRUE(health.has_value()) << "server stopped answering";
    EXPECT_EQ(health->status, 200);
    json after = server_.wait_for_health([](const json& h) { return h["active_generations"] == 0; });
    EXPECT_EQ(after["active_generations"], 0) << after.dump();
  }

  // Asserts an OpenAI error object; returns it for further checks.
  static json expect_error(const std::optional<RawResponse>& response, int status) {
    EXPECT_TRUE(response.has_value()) << "no response";
    if (!response) return nullptr;
    EXPECT_EQ(response->status, status) << response->body;
    EXPECT_EQ(response->header("content-type"), "application/json");
    json body = json::parse(response->body, nullptr, false);
    EXPECT_TRUE(body.contains("error")) << response->body;
    if (!body.contains("error")) return nullptr;
    const json& error = body["error"];
    EXPECT_TRUE(error["message"].is_string() && !error["message"].get<std::string>().empty());
    EXPECT_TRUE(error["type"].is_string());
    EXPECT_TRUE(error.contains("param"));
    EXPECT_TRUE(error.contains("code"));
    return error;
  }

  std::optional<RawResponse> post_raw(std::string_view body, const std::string& path = "/v1/chat/completions") {
    return http_request(server_.port(), "POST", path, std::string(body));
  }

  TestGateway server_;
};

// ---- request bodies that are not what the schema says ---------------------------------------------------

struct SchemaCase {
  const char* name;
  std::string_view body;
  int status;
  const char* param;  // expected error.param, or nullptr for null
  const char* code;   // expected error.code
};

void PrintTo(const SchemaCase& test_case, std::ostream* out) { *out << test_case.name; }

const SchemaCase kSchemaCases[] = {
    {"TruncatedJson", R"({"model":"echo","messages":[{"role":"user","content":"hi"})", 400, nullptr, "invalid_json"},
    {"EmptyBody", "", 400, nullptr, "invalid_json"},
    {"TrailingGarbage", R"({"model":"echo","messages":[{"role":"user","content":"hi"}]} xyz)", 400, nullptr, "invalid_json"},
    {"BodyIsArray", R"([1,2,3])", 400, "body", "invalid_type"},
    {"BodyIsString", R"("hello")", 400, "body", "invalid_type"},
    {"MissingModel", R"({"messages":[{"role":"user","content":"hi"}]})", 400, "model", "invalid_value"},
    {"ModelIsNumber", R"({"model":42,"messages":[{"role":"user","content":"hi"}]})", 400, "model", "invalid_type"},
    {"MissingMessages", R"({"model":"echo"})", 400, "messages", "invalid_value"},
    {"MessagesNotArray", R"({"model":"echo","messages":{"role":"user"}})", 400, "messages", "invalid_type"},
    {"MessagesEmpty", R"({"model":"echo","messages":[]})", 400, "messages", "invalid_value"},
    {"MessageNotObject", R"({"model":"echo","messages":["hi"]})", 400, "messages[0]", "invalid_type"},
    {"MessageMissingRole", R"({"model":"echo","messages":[{"content":"hi"}]})", 400, "messages[0].role", "invalid_value"},
    {"MessageUnknownRole", R"({"model":"echo","messages":[{"role":"robot","content":"hi"}]})", 400, "messages[0].role", "invalid_value"},
    {"ContentIsNumber", R"({"model":"echo","messages":[{"role":"user","content":7}]})", 400, "messages[0].content", "invalid_type"},
    {"ContentPartWithoutType", R"({"model":"echo","messages":[{"role":"user","content":[{"text":"a"}]}]})", 400,
     "messages[0].content[0].type", "invalid_value"},
    {"ToolMessageWithoutId", R"({"model":"echo","messages":[{"role":"tool","content":"42"}]})", 400, "messages[0].tool_call_id",
     "invalid_value"},
    {"TemperatureIsString", R"({"model":"echo","temperature":"hot","messages":[{"role":"user","content":"hi"}]})", 400,
     "temperature", "invalid_type"},
    {"TemperatureOutOfRange", R"({"model":"echo","temperature":5,"messages":[{"role":"user","content":"hi"}]})", 400,
     "temperature", "invalid_value"},
    {"TopPOutOfRange", R"({"model":"echo","top_p":1.5,"messages":[{"role":"user","content":"hi"}]})", 400, "top_p", "invalid_value"},
    {"NIsZero", R"({"model":"echo","n":0,"messages":[{"role":"user","content":"hi"}]})", 400, "n", "invalid_value"},
    {"NIsFraction", R"({"model":"echo","n":1.5,"messages":[{"role":"user","content":"hi"}]})", 400, "n", "invalid_type"},
    {"MaxTokensNegative", R"({"model":"echo","max_tokens":-3,"messages":[{"role":"user","content":"hi"}]})", 400, "max_tokens",
     "invalid_value"},
    {"MaxTokensHuge", R"({"model":"echo","max_tokens":18446744073709551615,"messages":[{"role":"user","content":"hi"}]})", 400,
     "max_tokens", "invalid_value"},
    {"StreamIsString", R"({"model":"echo","stream":"yes","messages":[{"role":"user","content":"hi"}]})", 400, "stream", "invalid_type"},
    {"TooManyStops", R"({"model":"echo","stop":["a","b","c","d","e"],"messages":[{"role":"user","content":"hi"}]})", 400, "stop",
     "invalid_value"},
    {"ToolWithoutName", R"({"model":"echo","tools":[{"type":"function","function":{}}],"messages":[{"role":"user","content":"hi"}]})",
     400, "tools[0].function.name", "invalid_value"},
    {"ToolChoiceUnknownFunction",
     R"({"model":"echo","tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":{"type":"function","function":{"name":"b"}},"messages":[{"role":"user","content":"hi"}]})",
     400, "tool_choice.function.name", "invalid_value"},
    {"ResponseFormatUnknown", R"({"model":"echo","response_format":{"type":"yaml"},"messages":[{"role":"user","content":"hi"}]})", 400,
     "response_format.type", "invalid_value"},
    {"LogitBiasBadKey", R"({"model":"echo","logit_bias":{"abc":1},"messages":[{"role":"user","content":"hi"}]})", 400, "logit_bias",
     "invalid_value"},
    {"TopLogprobsWithoutLogprobs", R"({"model":"echo","top_logprobs":3,"messages":[{"role":"user","content":"hi"}]})", 400,
     "top_logprobs", "invalid_value"},
    {"ProviderSortUnknown", R"({"model":"echo","provider":{"sort":"vibes"},"messages":[{"role":"user","content":"hi"}]})", 400,
     "provider.sort", "invalid_value"},
    {"InvalidUtf8", "{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe bad\"}]}", 400, nullptr, "invalid_json"},
    {"NulByteInJson", "{\"model\":\"echo\",\0\"messages\":[]}"sv, 400, nullptr, "invalid_json"},
    {"LoneSurrogateEscape", R"({"model":"echo","messages":[{"role":"user","content":"\ud800"}]})", 400, nullptr, "invalid_json"},
};

class SchemaViolationTest : public HostileInputTest, public ::testing::WithParamInterface<SchemaCase> {};

TEST_P(SchemaViolationTest, AnswersWithOpenAiErrorNamingTheField) {
  const SchemaCase& c = GetParam();
  json error = expect_error(post_raw(c.body), c.status);
  ASSERT_FALSE(error.is_null());
  if (c.param) EXPECT_EQ(error["param"], c.param) << error.dump();
  else EXPECT_TRUE(error["param"].is_null()) << error.dump();
  EXPECT_EQ(error["code"], c.code) << error.dump();
  EXPECT_EQ(error["type"], "invalid_request_error");
}

INSTANTIATE_TEST_SUITE_P(Bodies, SchemaViolationTest, ::testing::ValuesIn(kSchemaCases),
                         [](const auto& test_case) { return std::string(test_case.param.name); });

TEST_F(HostileInputTest, DeeplyNestedJsonIsRejectedWithoutRecursion) {
  std::string body = R"({"model":"echo","messages":[{"role":"user","content":"hi"}],"metadata":)" + std::string(100000, '[') +
                     std::string(100000, ']') + "}";
  json error = expect_error(post_raw(body), 400);
  EXPECT_EQ(error["code"], "json_too_deep");
}

TEST_F(HostileInputTest, UnknownModelIs404) {
  json error = expect_error(server_.post("/v1/chat/completions", chat_body("no-such-model", "hi")), 404);
  EXPECT_EQ(error["code"], "model_not_found");
  EXPECT_EQ(error["param"], "model");
}

TEST_F(HostileInputTest, EveryRouteFailingIs503WithRetryAfterAndTheAttempts) {
  auto response = server_.post("/v1/chat/completions", chat_body("error", "hi"));
  json error = expect_error(response, 503);
  EXPECT_EQ(response->header("retry-after"), "5");
  EXPECT_NE(error["message"].get<std::string>().find("fake/error"), std::string::npos) << error.dump();
}

// ---- HTTP-level abuse ------------------------------------------------------------------------------------

TEST_F(HostileInputTest, BodyOverLimitWithContentLengthIs413) {
  std::string body(9 * 1024 * 1024, 'x');
  json error = expect_error(post_raw(body), 413);
  EXPECT_EQ(error["code"], "request_too_large");
}

TEST_F(HostileInputTest, ChunkedBodyOverLimitIs413) {
  RawConnection connection(server_.port());
  ASSERT_TRUE(connection.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n"));
  std::string chunk(1024 * 1024, 'y');
  char size[16];
  std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
  bool sending = true;
  for (int i = 0; i < 9 && sending; ++i) sending = connection.send(size + chunk + "\r\n");
  json error = expect_error(connection.read_response(), 413);
  EXPECT_EQ(error["code"], "request_too_large");
}

TEST_F(HostileInputTest, Expect100ContinueOverLimitIsRefusedBeforeTheBody) {
  RawConnection connection(server_.port());
  ASSERT_TRUE(connection.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              "Content-Length: 9437184\r\nExpect: 100-continue\r\n\r\n"));
  expect_error(connection.read_response(), 413);
}

TEST_F(HostileInputTest, Expect100ContinueWithinLimitGetsContinueThenTheAnswer) {
  RawConnection connection(server_.port());
  std::string body = chat_body("echo", "continue please").dump();
  ASSERT_TRUE(connection.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\nExpect: 100-continue\r\n\r\n"));
  EXPECT_NE(connection.read_until("\r\n\r\n").find("100 Continue"), std::string::npos);
  ASSERT_TRUE(connection.send(body));
  auto response = connection.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST_F(HostileInputTest, WrongContentTypeIs415) {
  auto response = http_request(server_.port(), "POST", "/v1/chat/completions", chat_body("echo", "hi").dump(),
                               {{"Content-Type", "text/plain"}});
  json error = expect_error(response, 415);
  EXPECT_EQ(error["code"], "unsupported_media_type");
}

TEST_F(HostileInputTest, WrongMethodIs405WithAllow) {
  auto response = http_request(server_.port(), "GET", "/v1/chat/completions", "", {});
  expect_error(response, 405);
  EXPECT_EQ(response->header("allow"), "POST");
  auto del = http_request(server_.port(), "DELETE", "/v1/models", "", {});
  expect_error(del, 405);
  EXPECT_EQ(del->header("allow"), "GET");
}

TEST_F(HostileInputTest, UnknownPathIs404) {
  json error = expect_error(http_request(server_.port(), "GET", "/v2/everything", "", {}), 404);
  EXPECT_EQ(error["code"], "unknown_url");
}

TEST_F(HostileInputTest, GarbageRequestLineIs400AndCloses) {
  RawConnection connection(server_.port());
  ASSERT_TRUE(connection.send("THIS IS NOT HTTP\r\n\r\n"));
  json error = expect_error(connection.read_response(), 400);
  EXPECT_EQ(error["code"], "malformed_http");
  EXPECT_TRUE(connection.wait_closed());
}

TEST_F(HostileInputTest, BadContentLengthIs400) {
  RawConnection connection(server_.port());
  ASSERT_TRUE(connection.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}"));
  expect_error(connection.read_response(), 400);
}

TEST_F(HostileInputTest, OversizedHeadersAre431) {
  RawConnection connection(server_.port());
  ASSERT_TRUE(connection.send("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'a') + "\r\n\r\n"));
  json error = expect_error(connection.read_response(), 431);
  EXPECT_EQ(error["code"], "headers_too_large");
}

TEST_F(HostileInputTest, SlowLorisHeadersTimeOutWith408) {
  RawConnection connection(server_.port());
  ASSERT_TRUE(connection.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"));
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 4 && connection.send("X-Drip-" + std::to_string(i) + ": 1\r\n"); ++i) std::this_thread::sleep_for(200ms);
  json error = expect_error(connection.read_response(3s), 408);
  EXPECT_EQ(error["code"], "request_timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);  // bounded by the 500 ms header timeout, not the drip
  EXPECT_TRUE(connection.wait_closed());
}

TEST_F(HostileInputTest, SlowBodyTimesOutWith408) {
  RawConnection connection(server_.port());
  ASSERT_TRUE(connection.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              "Content-Length: 1000\r\n\r\n{\"model\":"));
  json error = expect_error(connection.read_response(3s), 408);
  EXPECT_NE(error["message"].get<std::string>().find("body"), std::string::npos);
}

TEST_F(HostileInputTest, IdleConnectionIsClosedWithoutAnAnswer) {
  TestGateway quick([](gateway::ServerConfig& config) { config.http.idle_timeout = 200ms; });
  RawConnection connection(quick.port());
  EXPECT_TRUE(connection.wait_closed(3s));
}

TEST_F(HostileInputTest, Http10RequestIsAnsweredAndClosed) {
  RawConnection connection(server_.port());
  std::string body = chat_body("echo", "old client").dump();
  ASSERT_TRUE(connection.send(build_request("POST", "/v1/chat/completions", body, {{"Content-Type", "application/json"}}, "HTTP/1.0")));
  auto response = connection.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->version, "HTTP/1.0");
  EXPECT_EQ(json::parse(response->body)["choices"][0]["message"]["content"], "You said: old client");
  EXPECT_TRUE(connection.wait_closed());
}

TEST_F(HostileInputTest, Http10StreamIsCloseDelimitedNotChunked) {
  RawConnection connection(server_.port());
  std::string body = chat_body("echo", "old stream", true).dump();
  ASSERT_TRUE(connection.send(build_request("POST", "/v1/chat/completions", body, {{"Content-Type", "application/json"}}, "HTTP/1.0")));
  auto response = connection.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_FALSE(response->chunked);
  auto events = sse_data_lines(response->body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
}

TEST_F(HostileInputTest, PipelinedRequestsAreAnsweredInOrder) {
  RawConnection connection(server_.port());
  std::string batch;
  for (const char* text : {"first", "second", "third"}) {
    batch += build_request("POST", "/v1/chat/completions", chat_body("echo", text).dump());
  }
  batch += build_request("GET", "/health", "", {});
  ASSERT_TRUE(connection.send(batch));
  for (const char* text : {"first", "second", "third"}) {
    auto response = connection.read_response();
    ASSERT_TRUE(response) << text;
    EXPECT_EQ(json::parse(response->body)["choices"][0]["message"]["content"], std::string("You said: ") + text);
  }
  auto health = connection.read_response();
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

// Reads a whole stream, then the echo model's answer to `text`.
void expect_stream_then_echo(RawConnection& connection, const std::string& text) {
  auto stream = connection.read_response();
  ASSERT_TRUE(stream);
  EXPECT_EQ(sse_data_lines(stream->body).back(), "[DONE]");
  auto answer = connection.read_response();
  ASSERT_TRUE(answer);
  EXPECT_EQ(json::parse(answer->body)["choices"][0]["message"]["content"], "You said: " + text);
}

TEST_F(HostileInputTest, PipelinedStreamThenRequestBothAnswered) {
  RawConnection connection(server_.port());
  ASSERT_TRUE(connection.send(build_request("POST", "/v1/chat/completions", chat_body("slow", "one", true).dump()) +
                              build_request("POST", "/v1/chat/completions", chat_body("echo", "two").dump())));
  expect_stream_then_echo(connection, "two");
}

TEST_F(HostileInputTest, HalfCloseAfterPipelinedRequestsStillGetsEveryAnswer) {
  RawConnection connection(server_.port());
  ASSERT_TRUE(connection.send(build_request("POST", "/v1/chat/completions", chat_body("slow", "one").dump()) +
                              build_request("POST", "/v1/chat/completions", chat_body("slow", "two").dump())));
  std::this_thread::sleep_for(100ms);
  connection.shutdown_write();  // "that is all I will send", not "I am gone"
  for (const char* text : {"one", "two"}) {
    auto response = connection.read_response();
    ASSERT_TRUE(response) << text;
    EXPECT_EQ(json::parse(response->body)["choices"][0]["message"]["content"], std::string("You said: ") + text);
  }
}

// The slow model takes 300 ms to its first token: the next request arrives while the gateway answers,
// is kept by the disconnect watch, and is parsed once the answer is out.
TEST_F(HostileInputTest, ARequestSentDuringAnAnswerIsAnsweredAfterIt) {
  RawConnection connection(server_.port());
  ASSERT_TRUE(connection.send(build_request("POST", "/v1/chat/completions", chat_body("slow", "one", true).dump())));
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(connection.send(build_request("POST", "/v1/chat/completions", chat_body("echo", "two").dump())));
  expect_stream_then_echo(connection, "two");
}

TEST_F(HostileInputTest, HalfARequestSentDuringAnAnswerIsCompletedAfterIt) {
  RawConnection connection(server_.port());
  ASSERT_TRUE(connection.send(build_request("POST", "/v1/chat/completions", chat_body("slow", "one").dump())));
  std::this_thread::sleep_for(100ms);
  std::string next = build_request("POST", "/v1/chat/completions", chat_body("echo", "two").dump());
  std::size_t half = next.find("\r\n") + 2;  // the request line only
  ASSERT_TRUE(connection.send(next.substr(0, half)));
  auto first = connection.read_response();
  ASSERT_TRUE(first);
  EXPECT_EQ(json::parse(first->body)["choices"][0]["message"]["content"], "You said: one");
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(connection.send(next.substr(half)));
  auto second = connection.read_response();
  ASSERT_TRUE(second);
  EXPECT_EQ(json::parse(second->body)["choices"][0]["message"]["content"], "You said: two");
}

// The body is parsed from what one read brought when it is all there, and read on when it is not.
TEST_F(HostileInputTest, ABodyThatArrivesInPiecesIsReadWhole) {
  RawConnection connection(server_.port());
  std::string request = build_request("POST", "/v1/chat/completions", chat_body("echo", "in pieces").dump());
  std::size_t middle = request.size() - 10;
  ASSERT_TRUE(connection.send(request.substr(0, middle)));
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(connection.send(request.substr(middle)));
  auto response = connection.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(json::parse(response->body)["choices"][0]["message"]["content"], "You said: in pieces");
}

TEST_F(HostileInputTest, Http10ExpectContinueGetsNoInterimResponse) {
  RawConnection connection(server_.port());
  std::string body = chat_body("echo", "old").dump();
  ASSERT_TRUE(connection.send("POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\nExpect: 100-continue\r\n\r\n" + body));
  std::string all = connection.read_until("You said: old");
  EXPECT_EQ(all.find("100 Continue"), std::string::npos);
  EXPECT_EQ(all.rfind("HTTP/1.0 200", 0), 0u);
}

TEST_F(HostileInputTest, DisconnectMidStreamCancelsTheGeneration) {
  {
    RawConnection connection(server_.port());
    ASSERT_TRUE(connection.send(build_request("POST", "/v1/chat/completions",
                                              chat_body("slow", std::string(200, 'w') + " a b c d e f g h i j k l m n o p", true).dump())));
    std::string first = connection.read_until("data: {");
    ASSERT_NE(first.find("200 OK"), std::string::npos);
    connection.close_abruptly();
  }
  json health = server_.wait_for_health([](const json& h) { return h["cancelled_total"] == 1 && h["active_generations"] == 0; });
  EXPECT_EQ(health["cancelled_total"], 1) << health.dump();
}

TEST_F(HostileInputTest, DisconnectWhileWaitingForFirstTokenCancels) {
  {
    RawConnection connection(server_.port());
    ASSERT_TRUE(connection.send(build_request("POST", "/v1/chat/completions", chat_body("slow", "never mind").dump())));
    std::this_thread::sleep_for(50ms);
    connection.shutdown_write();  // a FIN with nothing after it: the client has gone
  }
  json health = server_.wait_for_health([](const json& h) { return h["cancelled_total"] == 1; }, 250ms);
  EXPECT_EQ(health["cancelled_total"], 1) << "cancelled before the 300 ms first token: " << health.dump();
}

TEST_F(HostileInputTest, DisconnectMidBodyLeavesNoTrace) {
  {
    RawConnection connection(server_.port());
    ASSERT_TRUE(connection.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"model\""));
    connection.close_abruptly();
  }
  json health = server_.wait_for_health([](const json& h) { return h["open_connections"] == 1; });
  EXPECT_EQ(health["requests_in_flight"], 1) << health.dump();  // only the /health request itself
}

TEST_F(HostileInputTest, MidStreamUpstreamFailureEndsWithInBandErrorAndDone) {
  auto response = server_.post("/v1/chat/completions", chat_body("flaky", "a b c d e", true));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  auto events = sse_data_lines(response->body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  json error_chunk = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(error_chunk["error"]["message"].is_string()) << error_chunk.dump();
  EXPECT_EQ(error_chunk["choices"][0]["finish_reason"], "error");
}

TEST_F(HostileInputTest, ManyAbruptConnectionsDoNotExhaustTheServer) {
  for (int i = 0; i < 200; ++i) {
    RawConnection connection(server_.port());
    connection.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n");
    connection.close_abruptly();
  }
  json health = server_.wait_for_health([](const json& h) { return h["open_connections"] == 1; });
  EXPECT_EQ(health["open_connections"], 1) << health.dump();
}

TEST_F(HostileInputTest, ConnectionsOverTheLimitGet503) {
  TestGateway small([](gateway::ServerConfig& config) { config.http.max_connections = 2; });
  RawConnection first(small.port());
  RawConnection second(small.port());
  ASSERT_TRUE(first.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(first.read_response());
  ASSERT_TRUE(second.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(second.read_response());
  RawConnection third(small.port());
  json error = expect_error(third.read_response(), 503);
  EXPECT_EQ(error["code"], "overloaded");
}

}  // namespace
}  // namespace mg::test
