// Beyond capacity the gateway sheds load at once (503 + Retry-After) instead of queueing without bound,
// and neither a flood of slow clients nor bodies that swell when parsed can make it hold memory without bound.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/json_ondemand.h"
#include "tests/support/proc_status.h"
#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string stream_request(const std::string& model) {
  return build_request("POST", "/v1/chat/completions", chat_body(model, "hold on", true).dump());
}

void expect_shed(const std::optional<RawResponse>& response) {
  ASSERT_TRUE(response.has_value()) << "no answer: the request was queued instead of shed";
  EXPECT_EQ(response->status, 503) << response->body;
  EXPECT_EQ(response->header("retry-after"), "1");
  EXPECT_EQ(response->header("connection"), "close");
  json body = json::parse(response->body);
  EXPECT_EQ(body["error"]["code"], "overloaded") << response->body;
}

TEST(OverloadTest, RequestsBeyondTheInFlightLimitAreShedAtOnceWith503AndRetryAfter) {
  TestGateway server([](gateway::ServerConfig& config) {
    config.http.max_requests_in_flight = 3;
    config.fake_provider.slow_first_token = 60s;  // the admitted requests stay in flight for the whole test
  });
  std::vector<std::unique_ptr<RawConnection>> admitted;
  for (int i = 0; i < 3; ++i) {
    admitted.push_back(std::make_unique<RawConnection>(server.port()));
    ASSERT_TRUE(admitted.back()->send(stream_request("slow")));
  }
  // A probe is itself in flight while it answers, and is never shed.
  server.wait_for_health([](const json& h) { return h["requests_in_flight"] == 4; });

  // Answered while the three are still waiting for their first token: shed, not queued behind them.
  RawConnection over(server.port());
  ASSERT_TRUE(over.send(stream_request("slow")));
  expect_shed(over.read_response(5s));
  EXPECT_TRUE(over.wait_closed());

  admitted.clear();  // the clients leave; their generations are cancelled and capacity returns
  json health = server.wait_for_health([](const json& h) { return h["requests_in_flight"] == 1; });
  EXPECT_EQ(health["shed_requests"], 1) << health.dump();
  auto answer = server.post("/v1/chat/completions", chat_body("echo", "capacity is back"));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200) << answer->body;
}

// Hundreds of clients each send most of a large body and then stall. Only as many bodies as the budget
// allows are held; the rest are answered 503 as soon as their headers arrive, and their bytes are read
// and thrown away while the connection closes. Without the budget this flood would hold ~180 MiB.
TEST(OverloadTest, AFloodOfSlowUploadersIsShedAndMemoryStaysBounded) {
  constexpr std::size_t kBodyBytes = 1'000'000;
  constexpr std::size_t kSentBytes = 900'000;  // the last 100 KB never come
  constexpr int kUploaders = 200;
  constexpr int kSlowHeaderClients = 100;
  TestGateway server([](gateway::ServerConfig& config) {
    config.http.max_body_bytes = 2 * kBodyBytes;
    config.http.max_buffered_body_bytes = 4 * kBodyBytes;
    config.http.header_timeout = 30s;  // the flood is still there when memory is measured
    config.http.body_timeout = 30s;
  });
  const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           "Content-Length: " + std::to_string(kBodyBytes) + "\r\n\r\n";
  const std::string most_of_the_body(kSentBytes, ' ');
  const long rss_before_kib = proc_status_kib("self", "VmRSS");

  std::vector<std::unique_ptr<RawConnection>> flood;
  for (int i = 0; i < kSlowHeaderClients; ++i) {  // slow loris: a request line, then nothing
    flood.push_back(std::make_unique<RawConnection>(server.port()));
    ASSERT_TRUE(flood.back()->send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"));
  }
  int shed = 0;
  int held = 0;
  for (int i = 0; i < kUploaders; ++i) {
    flood.push_back(std::make_unique<RawConnection>(server.port()));
    RawConnection& uploader = *flood.back();
    ASSERT_TRUE(uploader.send(head));
    std::optional<RawResponse> early = uploader.read_response(200ms);
    if (early) {
      expect_shed(early);
      ++shed;
      continue;
    }
    ++held;
    ASSERT_TRUE(uploader.send(most_of_the_body));
  }
  json health = server.health();
  const long rss_growth_mib = (proc_status_kib("self", "VmRSS") - rss_before_kib) / 1024;

  EXPECT_LE(held, 4 + server.config().io_threads) << "bodies admitted past the budget";  // the bound holds per thread
  EXPECT_GE(shed, kUploaders - 4 - server.config().io_threads);
  EXPECT_LE(health["buffered_body_bytes"].get<std::int64_t>(), static_cast<std::int64_t>(4 * kBodyBytes)) << health.dump();
  EXPECT_LT(rss_growth_mib, 64) << "the flood made the process grow by " << rss_growth_mib << " MiB";

  // Served clients are not starved by the flood.
  auto answer = server.post("/v1/chat/completions", chat_body("echo", "still serving"));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200) << answer->body;

  flood.clear();
  health = server.wait_for_health([](const json& h) { return h["buffered_body_bytes"] == 0 && h["open_connections"] == 1; });
  EXPECT_EQ(health["buffered_body_bytes"], 0) << "a reservation outlived its request: " << health.dump();
}

// 280,000 tiny messages within the 8 MiB body limit: as a DOM and typed request they took 228-246 MB for
// one request, 500 MB for 16 at once. Now the parse stops at its budget (max_parsed_bytes, 6 times the
// body) with 413, and the peak stays within the bound README's "Memory" states: the bodies held
// (max_buffered_body_bytes at most) plus one parse per I/O thread, which is its budget and simdjson's
// index of the body.
TEST(OverloadTest, TinyMessagesCannotAmplifyABodyIntoHundredsOfMegabytes) {
  TestGateway server;
  std::string body = R"({"model":"echo","messages":[)";
  for (int i = 0; i < 280'000; ++i) body += i ? R"(,{"role":"user","content":""})" : R"({"role":"user","content":""})";
  body += "]}";
  const gateway::HttpLimits& limits = server.config().http;
  ASSERT_LE(body.size(), limits.max_body_bytes);
  const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n";
  auto send_at_once = [&](int clients) {  // the one body, sent by every client without a copy of its own
    std::vector<std::thread> threads;
    std::vector<std::optional<RawResponse>> answers(static_cast<std::size_t>(clients));
    for (int i = 0; i < clients; ++i) {
      threads.emplace_back([&, i] {
        RawConnection connection(server.port());
        if (connection.send(head) && connection.send(body)) answers[static_cast<std::size_t>(i)] = connection.read_response();
      });
    }
    for (auto& thread : threads) thread.join();
    for (const auto& answer : answers) {
      ASSERT_TRUE(answer);
      EXPECT_EQ(answer->status, 413) << answer->body;
      EXPECT_EQ(json::parse(answer->body)["error"]["code"], "request_too_complex") << answer->body;
    }
  };
  auto peak_growth_mib = [](auto&& run) {
    std::ofstream("/proc/self/clear_refs") << "5";  // resets VmHWM to the current RSS
    const long before_kib = proc_status_kib("self", "VmRSS");
    run();
    return static_cast<double>(proc_status_kib("self", "VmHWM") - before_kib) / 1024;
  };
  const double mib = 1024.0 * 1024.0;
  const double body_mib = static_cast<double>(body.size()) / mib;
  const double parse_mib = static_cast<double>(limits.max_parsed_bytes(body.size()) + ondemand::HeapCost::reader(body.size())) / mib;

  double one = peak_growth_mib([&] { send_at_once(1); });
  double sixteen = peak_growth_mib([&] { send_at_once(16); });
  const double held_mib = std::min(16 * body_mib, static_cast<double>(limits.max_buffered_body_bytes) / mib);
  const double bound_sixteen = held_mib + server.config().io_threads * parse_mib + 16;  // + the allocator's slack
  std::printf("body %.1f MiB: one request's peak +%.0f MiB (bound %.0f), sixteen at once +%.0f MiB (bound %.0f)\n", body_mib, one,
              body_mib + parse_mib + 16, sixteen, bound_sixteen);
#ifndef __SANITIZE_ADDRESS__  // ASan keeps freed memory in quarantine and pads every allocation
  EXPECT_LE(one, body_mib + parse_mib + 16);
  EXPECT_LE(sixteen, bound_sixteen);
#endif
  EXPECT_EQ(server.post("/v1/chat/completions", chat_body("echo", "still serving"))->status, 200);
}

// A small body (under 64 KiB, so not counted as a body) of tiny content parts is held as a typed request
// of about 14 times its size while it is answered: its parsed size counts against the memory all requests
// may hold, so enough of them at once are shed with 503 instead of growing the process without bound.
TEST(OverloadTest, SmallBodiesThatParseLargeCountAgainstTheMemoryBudget) {
  constexpr std::size_t kBudgetBytes = 2 * 1024 * 1024;
  TestGateway server([](gateway::ServerConfig& config) { config.http.max_buffered_body_bytes = kBudgetBytes; });
  std::string parts = R"({"type":"text","text":""})";
  for (int i = 0; i < 2000; ++i) parts += R"(,{"type":"text","text":""})";
  const std::string body = R"({"model":"slow","stream":true,"messages":[{"role":"user","content":[)" + parts + "]}]}";
  ASSERT_LT(body.size(), 64u * 1024);

  std::vector<std::unique_ptr<RawConnection>> clients;
  for (int i = 0; i < 6; ++i) {
    clients.push_back(std::make_unique<RawConnection>(server.port()));
    ASSERT_TRUE(clients.back()->send(build_request("POST", "/v1/chat/completions", body)));
  }
  json health = server.wait_for_health([](const json& h) { return h["shed_requests"].get<int>() > 0; });
  EXPECT_LE(health["buffered_body_bytes"].get<std::size_t>(), kBudgetBytes + 1024 * 1024) << health.dump();
  int answered = 0;
  int shed = 0;
  for (auto& client : clients) {
    std::optional<RawResponse> response = client->read_response();
    ASSERT_TRUE(response);
    if (response->status == 200) ++answered;
    if (response->status == 503) {  // the body was read: the connection stays open
      EXPECT_EQ(json::parse(response->body)["error"]["code"], "overloaded") << response->body;
      EXPECT_EQ(response->header("retry-after"), "1");
      ++shed;
    }
  }
  EXPECT_GE(answered, 1);
  EXPECT_GE(shed, 1) << "six parsed requests of about 700 KB each fit in a 2 MiB budget";
  health = server.wait_for_health([](const json& h) { return h["buffered_body_bytes"] == 0; });
  EXPECT_EQ(health["buffered_body_bytes"], 0) << "a hold outlived its request: " << health.dump();
}

}  // namespace
}  // namespace mg::test
