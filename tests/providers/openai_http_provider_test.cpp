// The OpenAI-compatible HTTP provider against a mock upstream on a real loopback socket, driven through
// the whole gateway: answers, pass-through streaming, pooled connections, and upstream failures.
#include "providers/openai_http_provider.h"

#include <cstdlib>
#include <optional>
#include <random>
#include <thread>

#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include "formats/openai_response_decoder.h"
#include "core/sse_parser.h"
#include "tests/support/mock_upstream.h"
#include "tests/support/raw_http_client.h"
#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// A catalogue whose models route to the mock: model "m" -> mock-ok, and so on.
void add_mock_routes(const std::string& db_path, const MockUpstream& mock) {
  pricing::Database db = pricing::Database::open(db_path);
  pricing::upsert_provider(db, {"mock", mock.base_url(), "MODELGATE_TEST_MOCK_KEY", "openai", true});
  pricing::upsert_provider(db, {"mockbad", mock.base_url(), "", "openai", true});
  pricing::upsert_provider(db, {"nowhere", "http://127.0.0.1:1/v1", "", "openai", true});
  auto route = [&](const std::string& model, const std::string& provider, const std::string& upstream, double price) {
    put_route(db, model, provider, upstream, price, price);
  };
  route("m", "mock", "mock-ok", 1.0);
  route("m-no-usage", "mock", "mock-no-usage", 1.0);
  route("m-broken", "mock", "mock-broken", 1.0);
  route("m-429", "mock", "mock-429-retry-after-2", 1.0);
  route("m-text", "mock", "mock-text", 1.0);
  route("m-fallback", "mockbad", "mock-500", 0.5);  // cheaper, so tried first
  route("m-fallback", "mock", "mock-ok", 1.0);
  route("m-unreachable", "nowhere", "mock-ok", 1.0);
  route("m-once", "mock", "mock-503-once", 1.0);
  route("m-limited", "mockbad", "mock-429-retry-after-2", 0.5);
  route("m-limited", "mock", "mock-ok", 1.0);
  route("m-retry-after", "mockbad", "mock-503-retry-after-1", 0.5);
  route("m-retry-after", "mock", "mock-ok", 1.0);
  route("m-slow", "mock", "mock-slow-150", 1.0);
  route("m-comments", "mock", "mock-comments", 1.0);
  route("m-slower", "mock", "mock-slow-300", 1.0);
  route("m-huge", "mock", "mock-huge-12", 1.0);
}

class OpenAiHttpProviderTest : public ::testing::Test {
 protected:
  OpenAiHttpProviderTest() {
    ::setenv("MODELGATE_TEST_MOCK_KEY", "secret-key", 1);
    add_mock_routes(db_path_, mock_);
    server_ = std::make_unique<TestGateway>([this](gateway::ServerConfig& config) { config.db_path = db_path_; });
  }

  void restart_with(const std::function<void(gateway::ServerConfig&)>& adjust) {
    server_.reset();
    server_ = std::make_unique<TestGateway>([&](gateway::ServerConfig& config) {
      config.db_path = db_path_;
      adjust(config);
    });
  }

  std::optional<RawResponse> chat(const std::string& model, bool stream = false) {
    return server_->post("/v1/chat/completions", chat_body(model, "hello upstream", stream));
  }

  MockUpstream mock_;
  TempDir dir_;
  std::string db_path_ = test_database(dir_, "upstream.db");
  std::unique_ptr<TestGateway> server_;
};

std::string streamed_text(const RawResponse& response) {
  std::string text;
  for (const std::string& line : sse_data_lines(response.body)) {
    if (line == "[DONE]") continue;
    json chunk = json::parse(line);
    if (!chunk["choices"].empty() && chunk["choices"][0]["delta"].contains("content")) text += chunk["choices"][0]["delta"]["content"].get<std::string>();
  }
  return text;
}

TEST_F(OpenAiHttpProviderTest, AnswersThroughTheUpstreamWithItsUsageAndTheKey) {
  auto response = chat("m");
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200) << response->body;
  EXPECT_EQ(response->header("x-modelgate-route"), "mock/m");
  json answer = json::parse(response->body);
  EXPECT_EQ(answer["choices"][0]["message"]["content"], "Hi from the mock");
  EXPECT_EQ(answer["usage"]["prompt_tokens"], 11);
  EXPECT_EQ(answer["usage"]["completion_tokens"], 4);
  EXPECT_DOUBLE_EQ(answer["usage"]["cost"].get<double>(), 15 * 1.0 / 1e6);
  json sent = mock_.last_request();
  EXPECT_EQ(sent["model"], "mock-ok");  // the upstream's own id for the model
  EXPECT_EQ(sent["messages"][0]["content"], "hello upstream");
  EXPECT_FALSE(sent.contains("provider"));
  EXPECT_EQ(mock_.last_authorization(), "Bearer secret-key");
  EXPECT_EQ(response->body.find("secret-key"), std::string::npos);
}

// Writes go out at once while the socket takes them, and on asynchronously from where they stopped when
// it does not: 12 MiB (more than a loopback socket takes at once) to a client that does not read at first.
TEST_F(OpenAiHttpProviderTest, ALargeAnswerArrivesWholeThroughAFullSocketBuffer) {
  RawConnection connection(server_->port());
  ASSERT_TRUE(connection.send(build_request("POST", "/v1/chat/completions", chat_body("m-huge", "a lot, please").dump())));
  std::this_thread::sleep_for(300ms);  // the answer fills the socket before the client reads
  auto response = connection.read_response();
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200) << response->body.substr(0, 2000);
  EXPECT_EQ(json::parse(response->body)["choices"][0]["message"]["content"], std::string(12 << 20, 'x'));
}

TEST_F(OpenAiHttpProviderTest, StreamsThroughAndAsksForUsage) {
  auto response = chat("m", true);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->header("content-type"), "text/event-stream");
  EXPECT_EQ(streamed_text(*response), "Hi from the mock");
  EXPECT_EQ(sse_data_lines(response->body).back(), "[DONE]");
  EXPECT_EQ(mock_.last_request()["stream_options"]["include_usage"], true);
}

TEST_F(OpenAiHttpProviderTest, KeepAliveConnectionsAreReused) {
  for (int i = 0; i < 20; ++i) ASSERT_EQ(chat("m", i % 2 == 0)->status, 200);
  EXPECT_EQ(mock_.requests_served(), 20);
  // Each I/O thread keeps its own upstream connections (clients are spread over the threads).
  EXPECT_EQ(mock_.connections_accepted(), server_->config().effective_io_threads());
}

TEST_F(OpenAiHttpProviderTest, AnUpstream500FallsBackToTheNextRoute) {
  auto response = chat("m-fallback");
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200) << response->body;
  EXPECT_EQ(response->header("x-modelgate-route"), "mock/m-fallback");
  EXPECT_EQ(mock_.requests_served(), 3);  // the 500, its retry, the fallback
}

TEST_F(OpenAiHttpProviderTest, ATransientFailureIsRetriedOnTheSameRoute) {
  auto response = chat("m-once");
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200) << response->body;
  EXPECT_EQ(response->header("x-modelgate-route"), "mock/m-once");
  EXPECT_EQ(mock_.requests_served(), 2);
}

// A failing first route costs at most one backoff: the added delay stays under the configured backoff
// plus 20 ms.
TEST_F(OpenAiHttpProviderTest, FallbackAddsAtMostTheBackoff) {
  constexpr auto kBackoff = std::chrono::milliseconds(100);
  restart_with([&](gateway::ServerConfig& config) { config.retry.backoff_initial = kBackoff; });
  auto timed = [&](const std::string& model) {
    auto started = std::chrono::steady_clock::now();
    auto response = chat(model);
    EXPECT_TRUE(response && response->status == 200);
    return std::chrono::steady_clock::now() - started;
  };
  timed("m");  // warm the connection pool
  auto direct = timed("m");
  auto with_fallback = timed("m-fallback");
  auto added = std::chrono::duration_cast<std::chrono::milliseconds>(with_fallback - direct);
  EXPECT_LT(added, kBackoff + std::chrono::milliseconds(20)) << "added " << added.count() << " ms";
}

TEST_F(OpenAiHttpProviderTest, ALongRetryAfterMovesOnInsteadOfWaiting) {
  restart_with([](gateway::ServerConfig& config) { config.retry.max_retry_after = std::chrono::milliseconds(500); });
  auto started = std::chrono::steady_clock::now();
  auto response = chat("m-limited");  // mockbad answers 429 with Retry-After: 2
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->header("x-modelgate-route"), "mock/m-limited");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));
}

TEST_F(OpenAiHttpProviderTest, AShortRetryAfterIsWaitedOutBeforeTheRetry) {
  restart_with([](gateway::ServerConfig& config) { config.retry.max_retry_after = std::chrono::milliseconds(1500); });
  auto started = std::chrono::steady_clock::now();
  auto response = chat("m-retry-after");  // mockbad answers 503 with Retry-After: 1, twice
  auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->header("x-modelgate-route"), "mock/m-retry-after");
  EXPECT_EQ(mock_.requests_served(), 3) << "the 503, its retry a second later, then the healthy route";
  EXPECT_GE(elapsed, std::chrono::seconds(1));
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
}

// True pass-through: each piece reaches the client when the upstream sends it, not when the answer ends.
TEST_F(OpenAiHttpProviderTest, ASlowStreamReachesTheClientPieceByPiece) {
  RawConnection connection(server_->port());
  ASSERT_TRUE(connection.send(build_request("POST", "/v1/chat/completions", chat_body("m-slow", "take your time", true).dump())));
  std::string first = connection.read_until("\"Hi \"");
  auto first_piece_at = std::chrono::steady_clock::now();
  ASSERT_NE(first.find("\"Hi \""), std::string::npos);
  EXPECT_EQ(first.find("mock\""), std::string::npos) << "the rest is not there yet";
  std::string rest = connection.read_until("[DONE]");
  auto gap = std::chrono::steady_clock::now() - first_piece_at;
  ASSERT_NE(rest.find("[DONE]"), std::string::npos);
  EXPECT_GE(gap, std::chrono::milliseconds(3 * 150 - 50)) << "three more pieces, 150 ms apart";
}

// The mock pauses 300 ms before each of its four pieces: its connection must close long before the
// 1.2 s the whole answer would take, and the request is recorded as abandoned by the client (499).
TEST_F(OpenAiHttpProviderTest, AClientThatLeavesAbortsTheUpstreamCallAndFreesItsConnection) {
  {
    RawConnection connection(server_->port());
    ASSERT_TRUE(connection.send(build_request("POST", "/v1/chat/completions", chat_body("m-slower", "then leave", true).dump())));
    ASSERT_NE(connection.read_until("\"Hi \"").find("\"Hi \""), std::string::npos);
    ASSERT_EQ(mock_.connections_open(), 1);
    connection.close_abruptly();
  }
  auto left = std::chrono::steady_clock::now();
  while (mock_.connections_open() > 0 && std::chrono::steady_clock::now() - left < std::chrono::seconds(3)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto freed_after = std::chrono::steady_clock::now() - left;
  EXPECT_EQ(mock_.connections_open(), 0);
  EXPECT_LT(freed_after, std::chrono::milliseconds(700)) << "the upstream was not left to finish its answer";
  server_->wait_for_health([](const json& health) { return health["active_generations"] == 0; });
  json rows = ledger_rows(server_->gateway(), db_path_);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["status"], 499);
}

TEST_F(OpenAiHttpProviderTest, UpstreamCommentsPassThroughAsCommentsNeverAsData) {
  auto response = chat("m-comments", true);
  ASSERT_TRUE(response);
  std::size_t comments = 0;
  for (std::size_t at = response->body.find(": PROCESSING\n\n"); at != std::string::npos; at = response->body.find(": PROCESSING\n\n", at + 1)) {
    ++comments;
  }
  EXPECT_EQ(comments, 4u);
  EXPECT_EQ(streamed_text(*response), "Hi from the mock");
  for (const std::string& event : sse_data_lines(response->body)) EXPECT_EQ(event.find("PROCESSING"), std::string::npos);
  json plain = json::parse(chat("m-comments")->body);  // and a whole answer does not notice them
  EXPECT_EQ(plain["choices"][0]["message"]["content"], "Hi from the mock");
}

TEST_F(OpenAiHttpProviderTest, CircuitOpensAfterRepeatedFailuresAndProbesAfterCooldown) {
  restart_with([](gateway::ServerConfig& config) {
    config.circuit.consecutive_failures = 4;
    config.circuit.cooldown = std::chrono::milliseconds(300);
    config.retry.backoff_initial = std::chrono::milliseconds(1);
  });
  auto circuit_of = [&](const std::string& route) {
    json listing = json::parse(server_->get("/v1/models")->body);
    for (const json& model : listing["data"]) {
      for (const json& entry : model["routes"]) {
        if (entry["route"] == route) return entry["circuit"].get<std::string>();
      }
    }
    return std::string("missing");
  };
  for (int i = 0; i < 2; ++i) ASSERT_EQ(chat("m-fallback")->status, 200);  // 2 x (500 + retry) = 4 failures
  EXPECT_EQ(circuit_of("mockbad/m-fallback"), "open");
  int before = mock_.requests_served();
  ASSERT_EQ(chat("m-fallback")->status, 200);
  EXPECT_EQ(mock_.requests_served(), before + 1) << "the open route is skipped";
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  EXPECT_EQ(circuit_of("mockbad/m-fallback"), "half_open");
  before = mock_.requests_served();
  ASSERT_EQ(chat("m-fallback")->status, 200);
  EXPECT_EQ(mock_.requests_served(), before + 2) << "one probe (no retry of a failed probe), then the healthy route";
  EXPECT_EQ(circuit_of("mockbad/m-fallback"), "open");
}

TEST_F(OpenAiHttpProviderTest, RateLimitedEverywhereIs503NamingTheUpstreamStatus) {
  restart_with([](gateway::ServerConfig& config) {
    config.retry.max_retry_after = std::chrono::milliseconds(500);
    config.no_route_retry_after_s = 1;
  });
  auto response = chat("m-429");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->header("retry-after"), "2") << "the upstream's Retry-After, longer than our own";
  EXPECT_NE(json::parse(response->body)["error"]["message"].get<std::string>().find("HTTP 429: slow down"), std::string::npos);
}

TEST_F(OpenAiHttpProviderTest, ABrokenStreamEndsWithAnInBandErrorNotACleanEnd) {
  auto response = chat("m-broken", true);
  ASSERT_TRUE(response);
  auto events = sse_data_lines(response->body);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "[DONE]");
  json error_chunk = json::parse(events[events.size() - 2]);
  EXPECT_EQ(error_chunk["choices"][0]["finish_reason"], "error");
  EXPECT_EQ(streamed_text(*response), "Hi from ");
}

TEST_F(OpenAiHttpProviderTest, UsageIsCountedWhenTheUpstreamSendsNone) {
  json body = chat_body("m-no-usage", "hello upstream", true);
  body["stream_options"] = {{"include_usage", true}};
  auto response = server_->post("/v1/chat/completions", body);
  ASSERT_TRUE(response);
  json usage_chunk = json::parse(sse_data_lines(response->body).rbegin()[1]);
  EXPECT_EQ(usage_chunk["usage"]["completion_tokens"], 4);  // four content chunks
  EXPECT_GT(usage_chunk["usage"]["prompt_tokens"], 0);
}

TEST_F(OpenAiHttpProviderTest, WrongContentTypeAndUnreachableUpstreamsFailCleanly) {
  auto text = chat("m-text");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->status, 503);
  EXPECT_NE(text->body.find("text/plain"), std::string::npos);
  auto unreachable = chat("m-unreachable");
  ASSERT_TRUE(unreachable);
  EXPECT_EQ(unreachable->status, 503);
  EXPECT_NE(unreachable->body.find("nowhere: cannot connect"), std::string::npos) << unreachable->body;
}

TEST(SseParserTest, EventsSurviveAnySplitOfTheBytes) {
  const std::string stream = ": keep-alive\r\n\r\ndata: {\"a\":1}\r\n\r\nevent: x\ndata: line one\ndata: line two\n\ndata: [DONE]\n\n";
  for (std::size_t step = 1; step <= stream.size(); ++step) {
    std::vector<SseEvent> events;
    int comments = 0;
    SseParser parser([&](SseEvent&& event) { events.push_back(std::move(event)); }, [&](std::string_view) { ++comments; });
    for (std::size_t at = 0; at < stream.size(); at += step) ASSERT_TRUE(parser.feed(std::string_view(stream).substr(at, step)));
    ASSERT_EQ(events.size(), 3u) << "step " << step;
    EXPECT_EQ(events[0].data, "{\"a\":1}");
    EXPECT_EQ(events[1].event, "x");
    EXPECT_EQ(events[1].data, "line one\nline two");
    EXPECT_EQ(events[2].data, "[DONE]");
    EXPECT_EQ(comments, 1);
  }
}

TEST(SseParserTest, AnOversizedEventIsAnErrorNotAnAllocation) {
  SseParser parser([](SseEvent&&) {}, nullptr, 1024);
  EXPECT_FALSE(parser.feed("data: " + std::string(2048, 'x')));
  SseParser lines([](SseEvent&&) {}, nullptr, 1024);
  EXPECT_TRUE(lines.feed("data: " + std::string(600, 'x') + "\n"));
  EXPECT_FALSE(lines.feed("data: " + std::string(600, 'y') + "\n")) << "the event's lines together exceed the limit";
  EXPECT_FALSE(lines.feed("\n")) << "and the parser stays failed";
}

// The events and comments of a whole stream, read at once: the oracle for the incremental parser.
struct SseReading {
  std::vector<std::pair<std::string, std::string>> events;  // event, data
  std::vector<std::string> comments;
  bool operator==(const SseReading&) const = default;
};

SseReading read_whole_stream(const std::string& stream) {
  SseReading reading;
  std::string event;
  std::optional<std::string> data;
  std::size_t at = 0;
  while (true) {
    std::size_t end = stream.find_first_of("\r\n", at);
    if (end == std::string::npos) break;  // an unterminated last line is not a line yet
    std::string line = stream.substr(at, end - at);
    at = end + (stream.compare(end, 2, "\r\n") == 0 ? 2 : 1);
    if (line.empty()) {
      if (data) reading.events.emplace_back(event, *data);
      event.clear();
      data.reset();
    } else if (line[0] == ':') {
      reading.comments.push_back(line.substr(1));
    } else {
      std::size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
      if (name == "data") data = data ? *data + "\n" + value : value;
      else if (name == "event") event = value;
    }
  }
  return reading;
}

TEST(SseParserTest, AnySplitReadsWhatTheWholeStreamSays) {
  const std::vector<std::string> pieces = {"data: ", "data:", "event: ", ": ", "x", "{\"a\":1}", " ", ":", "\r", "\n", "\r\n", "\n\n",
                                           "id: 7", "retry: 5", "dat", "a"};
  std::mt19937 random(11);
  for (int round = 0; round < 3000; ++round) {
    std::string stream;
    for (int i = random() % 40; i > 0; --i) stream += pieces[random() % pieces.size()];
    SseReading incremental;
    SseParser parser([&](SseEvent&& event) { incremental.events.emplace_back(event.event, event.data); },
                     [&](std::string_view comment) { incremental.comments.emplace_back(comment); });
    for (std::size_t at = 0; at < stream.size();) {
      std::size_t size = std::min<std::size_t>(random() % 8, stream.size() - at);
      ASSERT_TRUE(parser.feed(std::string_view(stream).substr(at, size)));
      at += size;
    }
    ASSERT_EQ(incremental, read_whole_stream(stream)) << "stream: " << json(stream).dump();
  }
}

TEST(OpenAiResponseDecoderTest, ToolCallFragmentsKeepTheirIndexAndNormalisedFinish) {
  OpenAiResponseDecoder decoder(ApiFlavor::chat, 5);
  std::vector<ChatEvent> events;
  decoder.on_stream_data(R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"c1","function":{"name":"f","arguments":"{\"a\""}}]}}]})", events);
  decoder.on_stream_data(R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":":1}"}}]},"finish_reason":"tool_use"}]})", events);
  decoder.on_stream_data("[DONE]", events);
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(std::get<ToolCallDelta>(events[0]).index, 1);
  EXPECT_EQ(std::get<ToolCallDelta>(events[0]).name, "f");
  EXPECT_EQ(std::get<ToolCallDelta>(events[1]).arguments, ":1}");
  EXPECT_EQ(std::get<ChoiceFinished>(events[2]).reason, FinishReason::tool_calls);
  EXPECT_EQ(std::get<ChoiceFinished>(events[2]).native_reason, "tool_use");
  EXPECT_EQ(std::get<UsageReport>(events[3]).prompt_tokens, 5);  // estimated: the upstream sent none
  EXPECT_TRUE(std::holds_alternative<StreamDone>(events[4]));
}

TEST(OpenAiResponseDecoderTest, MalformedChunksAndInBandErrorsFailTheStream) {
  OpenAiResponseDecoder broken(ApiFlavor::chat, 1);
  std::vector<ChatEvent> events;
  broken.on_stream_data("{not json", events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<StreamFailed>(events[0]));
  OpenAiResponseDecoder erroring(ApiFlavor::chat, 1);
  events.clear();
  erroring.on_stream_data(R"({"error":{"message":"overloaded"}})", events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(std::get<StreamFailed>(events[0]).error.message.find("overloaded"), std::string::npos);
}

// Found by the sse fuzz target (tests/fuzz): a choice index of 2^31 - 1 made the answer being assembled
// resize to that many choices, and -1 indexed the streaming writer's per-choice state out of bounds.
TEST(OpenAiResponseDecoderTest, ChoiceAndToolCallIndicesOutOfRangeFailTheAnswer) {
  for (const char* chunk : {R"({"choices":[{"index":2147483647,"delta":{"content":"x"}}]})",
                            R"({"choices":[{"index":-1,"delta":{"content":"x"}}]})",
                            R"({"choices":[{"index":4294967296,"delta":{"content":"x"}}]})",
                            R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":99999999,"function":{"arguments":"{}"}}]}}]})"}) {
    OpenAiResponseDecoder decoder(ApiFlavor::chat, 1);
    std::vector<ChatEvent> events;
    decoder.on_stream_data(chunk, events);
    ASSERT_EQ(events.size(), 1u) << chunk;
    ASSERT_TRUE(std::holds_alternative<StreamFailed>(events[0])) << chunk;
    EXPECT_NE(std::get<StreamFailed>(events[0]).error.message.find("index outside"), std::string::npos) << chunk;
  }
  OpenAiResponseDecoder whole(ApiFlavor::chat, 1);
  std::vector<ChatEvent> events;
  whole.on_body(R"({"choices":[{"index":128,"message":{"content":"x"}}]})", events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<StreamFailed>(events[0]));

  OpenAiResponseDecoder last_in_range(ApiFlavor::chat, 1);  // n may be 128: index 127 is an answer
  events.clear();
  last_in_range.on_stream_data(R"({"choices":[{"index":127,"delta":{"content":"x"}}]})", events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(std::get<TextDelta>(events[0]).choice, 127);
}

TEST(UpstreamStatusTest, StatusesMapToFailureClasses) {
  EXPECT_EQ(upstream_status_error("p", 429, "", 2).failure, FailureClass::rate_limit);
  EXPECT_EQ(upstream_status_error("p", 429, "", 2).retry_after_s, 2);
  EXPECT_EQ(upstream_status_error("p", 503, "", 0).failure, FailureClass::transient);
  EXPECT_EQ(upstream_status_error("p", 401, "", 0).failure, FailureClass::auth);
  EXPECT_EQ(upstream_status_error("p", 400, R"({"error":{"message":"bad"}})", 0).http_status, 400);
  EXPECT_EQ(upstream_status_error("p", 400, "", 0).failure, FailureClass::caller_fault);
  EXPECT_EQ(upstream_status_error("p", 404, "", 0).failure, FailureClass::permanent);
}

TEST(BaseUrlTest, Forms) {
  auto url = parse_base_url("http://127.0.0.1:8000/v1/");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 8000);
  EXPECT_EQ(url->path_prefix, "/v1");
  auto https = parse_base_url("https://api.deepinfra.com/v1/openai");
  ASSERT_TRUE(https);
  EXPECT_EQ(https->port, 443);
  EXPECT_EQ(https->host_header(), "api.deepinfra.com");
  auto v6 = parse_base_url("http://[::1]:9000");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9000);
  EXPECT_FALSE(parse_base_url("ftp://x"));
  EXPECT_FALSE(parse_base_url("http://x:99999/v1"));
  EXPECT_FALSE(parse_base_url("localhost:8000"));
}

}  // namespace
}  // namespace mg::test

namespace mg::test {
namespace {

class HttpsUpstreamTest : public ::testing::Test {
 protected:
  void start(const TlsFiles& served_with) {
    mock_ = std::make_unique<MockUpstream>(served_with);
    pricing::Database db = pricing::Database::open(db_path_);
    pricing::upsert_provider(db, {"secure", mock_->base_url(), "", "openai", true});
    put_route(db, "s", "secure", "mock-ok", 0, 0);
    server_ = std::make_unique<TestGateway>([this](gateway::ServerConfig& config) {
      config.db_path = db_path_;
      config.upstream_ca_file = certificates_.ca_file;
    });
  }

  TempDir dir_;
  TestCertificates certificates_{dir_.path().string()};
  std::string db_path_ = test_database(dir_, "tls.db");
  std::unique_ptr<MockUpstream> mock_;
  std::unique_ptr<TestGateway> server_;
};

TEST_F(HttpsUpstreamTest, AnUpstreamSignedByTheConfiguredCaAnswersOverPooledTls) {
  start(certificates_.server);
  for (int i = 0; i < 6; ++i) {
    auto response = server_->post("/v1/chat/completions", chat_body("s", "over tls", i % 2 == 1));
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status, 200) << response->body;
    EXPECT_NE(response->body.find(i % 2 ? "mock" : "Hi from the mock"), std::string::npos);
  }
  EXPECT_EQ(mock_->connections_accepted(), server_->config().effective_io_threads()) << "one pooled connection per I/O thread";
  EXPECT_EQ(mock_->tls_handshakes_failed(), 0);
}

TEST_F(HttpsUpstreamTest, ACertificateNotSignedByTheCaIsRefusedAndNotRetried) {
  start(certificates_.rogue);
  auto response = server_->post("/v1/chat/completions", chat_body("s", "who are you"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  std::string message = json::parse(response->body)["error"]["message"];
  EXPECT_NE(message.find("secure: TLS handshake failed"), std::string::npos) << message;
  EXPECT_NE(message.find("certificate verify failed"), std::string::npos) << message;
  EXPECT_EQ(mock_->requests_served(), 0);
  EXPECT_EQ(mock_->connections_accepted(), 1) << "a failed handshake is not retried on the same route";
}

// The test for whether a call may go on inline on the caller's strand instead of posting to it.
TEST(RunningInThisThreadTest, TrueOnlyOnTheThreadThatRunsTheIoContext) {
  boost::asio::io_context io;
  boost::asio::io_context other;
  boost::asio::any_io_executor executor = io.get_executor();
  EXPECT_FALSE(running_in_this_thread(executor)) << "nobody runs it yet";
  EXPECT_FALSE(running_in_this_thread(boost::asio::any_io_executor()));
  bool inside = false;
  bool inside_other = true;
  bool from_elsewhere = true;
  boost::asio::post(io, [&] {
    inside = running_in_this_thread(executor);
    inside_other = running_in_this_thread(other.get_executor());
    std::thread([&] { from_elsewhere = running_in_this_thread(executor); }).join();
  });
  io.run();
  EXPECT_TRUE(inside);
  EXPECT_FALSE(inside_other);
  EXPECT_FALSE(from_elsewhere);
}

}  // namespace
}  // namespace mg::test
