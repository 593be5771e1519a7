// The gateway's HTTP behaviour over real loopback sockets: endpoints, headers, keep-alive, SSE framing,
// fallback, and graceful shutdown.
#include <future>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::vector<json> sse_chunks(const RawResponse& response) {
  std::vector<json> chunks;
  for (const std::string& line : sse_data_lines(response.body)) {
    if (line != "[DONE]") chunks.push_back(json::parse(line));
  }
  return chunks;
}

std::string streamed_text(const std::vector<json>& chunks) {
  std::string text;
  for (const json& chunk : chunks) {
    for (const json& choice : chunk["choices"]) {
      if (choice["delta"].contains("content")) text += choice["delta"]["content"].get<std::string>();
    }
  }
  return text;
}

TEST(HttpServerTest, HealthReadyAndModelsAnswer) {
  TestGateway server;
  auto health = server.get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(json::parse(health->body)["status"], "ok");
  auto ready = server.get("/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  auto models = server.get("/v1/models");
  ASSERT_TRUE(models);
  json list = json::parse(models->body);
  EXPECT_EQ(list["object"], "list");
  std::map<std::string, json> by_id;
  for (const json& model : list["data"]) by_id[model["id"]] = model;
  for (const char* id : {"echo", "slow", "error", "slow_error", "flaky", "mistral-7b-instruct", "mixtral-8x7b-instruct"}) {
    EXPECT_TRUE(by_id.contains(id)) << id;
  }
  const json& mixtral = by_id["mixtral-8x7b-instruct"];
  EXPECT_EQ(mixtral["routes"].size(), 4u);
  EXPECT_EQ(mixtral["routes"][0]["available"], false);  // no HTTP client for remote providers in this build yet
  EXPECT_EQ(mixtral["pricing"]["prompt"], "5.4e-07");  // lowest input + output: 0.54 + 0.54
  const json& echo = by_id["echo"];
  EXPECT_EQ(echo["object"], "model");
  EXPECT_EQ(echo["object"], "model");
  EXPECT_EQ(echo["pricing"]["prompt"], "1e-06");
  EXPECT_EQ(echo["routes"][0]["route"], "fake/echo");
  EXPECT_EQ(echo["routes"][0]["usd_per_mtok_output"], 2.0);
}

TEST(HttpServerTest, ChatCompletionHasOpenAiShapeUsageAndCost) {
  TestGateway server;
  json body = {{"model", "echo"},
               {"messages", {{{"role", "system"}, {"content", "be brief"}}, {{"role", "user"}, {"content", "hello gateway"}}}}};
  auto response = server.post("/v1/chat/completions", body);
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200) << response->body;
  EXPECT_EQ(response->header("x-modelgate-route"), "fake/echo");
  json answer = json::parse(response->body);
  EXPECT_EQ(answer["object"], "chat.completion");
  EXPECT_EQ(answer["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(answer["model"], "echo");
  EXPECT_EQ(answer["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(answer["choices"][0]["message"]["content"], "You said: hello gateway");
  EXPECT_EQ(answer["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(answer["usage"]["prompt_tokens"], 4);      // "be brief" + "hello gateway"
  EXPECT_EQ(answer["usage"]["completion_tokens"], 4);  // "You " "said: " "hello " "gateway"
  EXPECT_EQ(answer["usage"]["total_tokens"], 8);
  EXPECT_DOUBLE_EQ(answer["usage"]["cost"].get<double>(), (4 * 1.0 + 4 * 2.0) / 1e6);
}

TEST(HttpServerTest, RequestIdIsEchoedOrGenerated) {
  TestGateway server;
  auto echoed = http_request(server.port(), "GET", "/health", "", {{"X-Request-Id", "client-abc_123"}});
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->header("x-request-id"), "client-abc_123");
  auto unsafe = http_request(server.port(), "GET", "/health", "", {{"X-Request-Id", "bad id with spaces"}});
  ASSERT_TRUE(unsafe);
  EXPECT_EQ(unsafe->header("x-request-id").rfind("req_", 0), 0u);
  auto generated = server.get("/health");
  ASSERT_TRUE(generated);
  EXPECT_EQ(generated->header("x-request-id").size(), 28u);
}

TEST(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  TestGateway server;
  RawConnection connection(server.port());
  for (int i = 0; i < 20; ++i) {
    std::string text = "message " + std::to_string(i);
    ASSERT_TRUE(connection.send(build_request("POST", "/v1/chat/completions", chat_body("echo", text).dump())));
    auto response = connection.read_response();
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(json::parse(response->body)["choices"][0]["message"]["content"], "You said: " + text);
  }
  EXPECT_EQ(server.health()["open_connections"], 2);  // this one and the /health probe
}

TEST(HttpServerTest, StreamIsChunkedSseWithRoleFirstAndDoneLast) {
  TestGateway server;
  json body = chat_body("echo", "stream me please", true);
  body["stream_options"] = {{"include_usage", true}};
  auto response = server.post("/v1/chat/completions", body);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(response->chunked);
  EXPECT_EQ(response->header("content-type"), "text/event-stream");
  EXPECT_EQ(response->header("x-modelgate-route"), "fake/echo");
  EXPECT_EQ(sse_data_lines(response->body).back(), "[DONE]");
  auto chunks = sse_chunks(*response);
  ASSERT_GE(chunks.size(), 3u);
  EXPECT_EQ(chunks.front()["object"], "chat.completion.chunk");
  EXPECT_EQ(chunks.front()["choices"][0]["delta"]["role"], "assistant");
  EXPECT_FALSE(chunks[1]["choices"][0]["delta"].contains("role"));
  EXPECT_EQ(streamed_text(chunks), "You said: stream me please");
  const json& usage_chunk = chunks.back();
  EXPECT_TRUE(usage_chunk["choices"].empty());
  EXPECT_EQ(usage_chunk["usage"]["completion_tokens"], 5);
  EXPECT_EQ(chunks[chunks.size() - 2]["choices"][0]["finish_reason"], "stop");
}

TEST(HttpServerTest, StreamWithoutIncludeUsageHasNoUsageChunk) {
  TestGateway server;
  auto response = server.post("/v1/chat/completions", chat_body("echo", "x", true));
  ASSERT_TRUE(response);
  for (const json& chunk : sse_chunks(*response)) EXPECT_FALSE(chunk.contains("usage")) << chunk.dump();
}

TEST(HttpServerTest, SlowFirstTokenGetsSseKeepAliveComments) {
  TestGateway server;  // 300 ms to the first token, keep-alive every 50 ms
  auto response = server.post("/v1/chat/completions", chat_body("slow", "patience", true));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body.rfind(": keep-alive\n\n", 0), 0u) << response->body.substr(0, 80);
  EXPECT_EQ(streamed_text(sse_chunks(*response)), "You said: patience");
}

TEST(HttpServerTest, NonStreamingSlowAnswerHasNoKeepAliveBytes) {
  TestGateway server;
  auto response = server.post("/v1/chat/completions", chat_body("slow", "patience"));
  ASSERT_TRUE(response);
  EXPECT_EQ(json::parse(response->body)["choices"][0]["message"]["content"], "You said: patience");
}

TEST(HttpServerTest, ToolCallsComeBackInOpenAiShape) {
  TestGateway server;
  json body = chat_body("echo", "weather in Paris");
  body["tools"] = {{{"type", "function"}, {"function", {{"name", "get_weather"}, {"parameters", {{"type", "object"}}}}}}};
  auto response = server.post("/v1/chat/completions", body);
  ASSERT_TRUE(response);
  json choice = json::parse(response->body)["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_TRUE(choice["message"]["content"].is_null());
  const json& call = choice["message"]["tool_calls"][0];
  EXPECT_EQ(call["id"], "call_fake_0");
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(call["function"]["arguments"].get<std::string>())["input"], "weather in Paris");
}

TEST(HttpServerTest, StreamedToolCallSendsIdAndNameOnlyInFirstFragment) {
  TestGateway server;
  json body = chat_body("echo", "weather", true);
  body["tools"] = {{{"type", "function"}, {"function", {{"name", "get_weather"}}}}};
  auto response = server.post("/v1/chat/completions", body);
  ASSERT_TRUE(response);
  auto chunks = sse_chunks(*response);
  std::vector<json> fragments;
  for (const json& chunk : chunks) {
    if (chunk["choices"][0]["delta"].contains("tool_calls")) fragments.push_back(chunk["choices"][0]["delta"]["tool_calls"][0]);
  }
  ASSERT_EQ(fragments.size(), 3u);
  EXPECT_EQ(fragments[0]["id"], "call_fake_0");
  EXPECT_EQ(fragments[0]["function"]["name"], "get_weather");
  std::string arguments;
  for (const json& fragment : fragments) {
    EXPECT_EQ(fragment["index"], 0);
    arguments += fragment["function"]["arguments"].get<std::string>();
  }
  EXPECT_FALSE(fragments[1].contains("id"));
  EXPECT_FALSE(fragments[1]["function"].contains("name"));
  EXPECT_EQ(json::parse(arguments)["input"], "weather");
}

TEST(HttpServerTest, LegacyCompletionsEndpointStreamsAndAnswers) {
  TestGateway server;
  auto whole = server.post("/v1/completions", {{"model", "echo"}, {"prompt", "legacy prompt"}});
  ASSERT_TRUE(whole);
  json answer = json::parse(whole->body);
  EXPECT_EQ(answer["object"], "text_completion");
  EXPECT_EQ(answer["choices"][0]["text"], "You wrote: legacy prompt");
  auto stream = server.post("/v1/completions", {{"model", "echo"}, {"prompt", "legacy"}, {"stream", true}});
  ASSERT_TRUE(stream);
  std::string text;
  for (const json& chunk : sse_chunks(*stream)) text += chunk["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(text, "You wrote: legacy");
}

TEST(HttpServerTest, SeveralChoicesWithN) {
  TestGateway server;
  json body = chat_body("echo", "twice");
  body["n"] = 2;
  auto response = server.post("/v1/chat/completions", body);
  ASSERT_TRUE(response);
  json choices = json::parse(response->body)["choices"];
  ASSERT_EQ(choices.size(), 2u);
  EXPECT_EQ(choices[1]["index"], 1);
  EXPECT_EQ(choices[1]["message"]["content"], "You said: twice");
}

TEST(HttpServerTest, MaxTokensCutsWithFinishReasonLength) {
  TestGateway server;
  json body = chat_body("echo", "one two three four");
  body["max_tokens"] = 2;
  auto response = server.post("/v1/chat/completions", body);
  ASSERT_TRUE(response);
  json choice = json::parse(response->body)["choices"][0];
  EXPECT_EQ(choice["message"]["content"], "You said: ");
  EXPECT_EQ(choice["finish_reason"], "length");
}

TEST(HttpServerTest, ModelsListFallsBackPastAFailingModel) {
  TestGateway server;
  json body = chat_body("error", "fall back");
  body["models"] = {"echo"};
  auto response = server.post("/v1/chat/completions", body);
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200) << response->body;
  EXPECT_EQ(response->header("x-modelgate-route"), "fake/echo");
  EXPECT_EQ(json::parse(response->body)["choices"][0]["message"]["content"], "You said: fall back");
}

TEST(HttpServerTest, StreamFallsBackBeforeTheFirstByte) {
  TestGateway server([](gateway::ServerConfig& config) { config.retry.retries_per_route = 0; });
  json body = chat_body("error", "fall back", true);
  body["models"] = {"echo"};
  auto response = server.post("/v1/chat/completions", body);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->header("x-modelgate-route"), "fake/echo");
  auto chunks = sse_chunks(*response);
  EXPECT_EQ(streamed_text(chunks), "You said: fall back");
  EXPECT_EQ(chunks.front()["model"], "echo");
}

TEST(HttpServerTest, KeepAliveCommentsDoNotStopFallback) {
  TestGateway server;  // keep-alive every 50 ms; slow_error fails after 300 ms
  json body = chat_body("slow_error", "second route please", true);
  body["models"] = {"echo"};
  auto response = server.post("/v1/chat/completions", body);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body.rfind(": keep-alive", 0), 0u);
  auto chunks = sse_chunks(*response);
  EXPECT_EQ(streamed_text(chunks), "You said: second route please");
  EXPECT_EQ(chunks.front()["model"], "echo");
  for (const json& chunk : chunks) EXPECT_FALSE(chunk.contains("error")) << chunk.dump();
}

TEST(HttpServerTest, RequestDeadlineEndsAStuckAnswerWith504) {
  TestGateway server([](gateway::ServerConfig& config) {
    config.request_timeout = 200ms;
    config.fake_provider.slow_first_token = 10s;
  });
  auto started = std::chrono::steady_clock::now();
  auto response = server.post("/v1/chat/completions", chat_body("slow", "never"));
  ASSERT_TRUE(response);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  EXPECT_EQ(response->status, 504);
  EXPECT_EQ(json::parse(response->body)["error"]["code"], "request_timeout");
  auto stream = server.post("/v1/chat/completions", chat_body("slow", "never", true));
  ASSERT_TRUE(stream);
  auto events = sse_data_lines(stream->body);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(json::parse(events[events.size() - 2])["error"]["code"], "request_timeout");
  EXPECT_EQ(events.back(), "[DONE]");
}

TEST(HttpServerTest, HeadOnGetEndpointsHasHeadersButNoBody) {
  TestGateway server;
  RawConnection connection(server.port());
  ASSERT_TRUE(connection.send("HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string head = connection.read_until("\r\n\r\n");
  EXPECT_NE(head.find("200 OK"), std::string::npos);
  EXPECT_NE(head.find("Content-Length: "), std::string::npos);
  ASSERT_TRUE(connection.send("GET /ready HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto next = connection.read_response();  // a body after HEAD would show up here as garbage
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST(HttpServerTest, EmptyLinesBetweenRequestsAreIgnored) {
  TestGateway server;
  RawConnection connection(server.port());
  ASSERT_TRUE(connection.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n\r\n\r\nGET /ready HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto first = connection.read_response();
  auto second = connection.read_response();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(second->status, 200);
}

TEST(HttpServerTest, DrainAnnouncesConnectionCloseThenProcessesNothingMore) {
  auto server = std::make_unique<TestGateway>();
  RawConnection connection(server->port());
  ASSERT_TRUE(connection.send(build_request("POST", "/v1/chat/completions", chat_body("slow", "first").dump()) +
                              build_request("POST", "/v1/chat/completions", chat_body("echo", "second").dump())));
  server->wait_for_health([](const json& h) { return h["active_generations"] == 1; });
  server->gateway().request_shutdown();
  auto first = connection.read_response();
  ASSERT_TRUE(first);
  EXPECT_EQ(json::parse(first->body)["choices"][0]["message"]["content"], "You said: first");
  EXPECT_EQ(first->header("connection"), "close");  // so the client knows "second" was not processed
  EXPECT_FALSE(connection.read_response(1s));
  EXPECT_TRUE(connection.wait_closed());
}

TEST(HttpServerTest, GracefulShutdownFinishesInFlightStreamAndRefusesNewWork) {
  auto server = std::make_unique<TestGateway>();
  std::uint16_t port = server->port();
  auto stream = std::async(std::launch::async, [port] {
    return http_request(port, "POST", "/v1/chat/completions", chat_body("slow", "finish me please", true).dump());
  });
  json health = server->wait_for_health([](const json& h) { return h["active_generations"] == 1; });
  ASSERT_EQ(health["active_generations"], 1);
  RawConnection idle(port);  // an idle keep-alive connection must not hold the shutdown up
  server->gateway().request_shutdown();
  auto ready = std::async(std::launch::async, [port] { return http_request(port, "GET", "/ready", "", {}); });
  auto response = stream.get();
  ASSERT_TRUE(response);
  EXPECT_EQ(streamed_text(sse_chunks(*response)), "You said: finish me please");
  EXPECT_TRUE(idle.wait_closed(2s));
  auto started = std::chrono::steady_clock::now();
  server.reset();  // waits for the drain
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  RawConnection refused(port);
  EXPECT_FALSE(refused.connected());
  auto ready_response = ready.get();
  EXPECT_TRUE(!ready_response || ready_response->status == 503);
}

TEST(HttpServerTest, ShutdownGracePeriodBoundsAStuckStream) {
  auto server = std::make_unique<TestGateway>([](gateway::ServerConfig& config) {
    config.shutdown_grace = 200ms;
    config.fake_provider.slow_first_token = 10s;
  });
  std::uint16_t port = server->port();
  auto stream = std::async(std::launch::async, [port] {
    return http_request(port, "POST", "/v1/chat/completions", chat_body("slow", "never", true).dump());
  });
  server->wait_for_health([](const json& h) { return h["active_generations"] == 1; });
  auto started = std::chrono::steady_clock::now();
  server->gateway().request_shutdown();
  server.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  auto response = stream.get();  // the stream ends properly: an in-band error, then [DONE]
  ASSERT_TRUE(response);
  auto events = sse_data_lines(response->body);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(json::parse(events[events.size() - 2])["error"]["code"], "shutting_down");
  EXPECT_EQ(events.back(), "[DONE]");
}

TEST(HttpServerTest, StartFailsClearlyWhenThePortIsTaken) {
  TestGateway first;
  gateway::ServerConfig config = test_server_config();
  config.listen_port = first.port();
  TempDir dir;
  config.db_path = test_database(dir, "second.db");
  gateway::Gateway second(config);
  Status started = second.start();
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find("cannot listen on 127.0.0.1:" + std::to_string(first.port())), std::string::npos)
      << started.error().message;
}

}  // namespace
}  // namespace mg::test
