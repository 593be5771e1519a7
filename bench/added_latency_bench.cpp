// The latency modelgate adds on loopback: the same requests sent straight to a mock upstream and through
// the gateway to it, side by side in one run, at several concurrencies. Reports p50/p99 of non-streamed
// requests and of the time to the first streamed byte, and the differences.
//
//   build/release/bench/mg_bench_added_latency [--requests N] [--concurrency 1,16,64]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/mock_upstream.h"
#include "tests/support/test_gateway.h"

namespace {

using namespace mg;
using Clock = std::chrono::steady_clock;

struct Target {
  std::uint16_t port;
  std::string path;
  std::string model;
};

struct Percentiles {
  double p50_us = 0;
  double p99_us = 0;
};

Percentiles percentiles(std::vector<double> samples) {
  if (samples.empty()) return {};
  std::sort(samples.begin(), samples.end());
  auto at = [&](double fraction) { return samples[std::min(samples.size() - 1, static_cast<std::size_t>(fraction * static_cast<double>(samples.size())))]; };
  return {at(0.50), at(0.99)};
}

// `connections` keep-alive clients, each sending `per_connection` requests back to back. Returns the
// latency of each request in microseconds: to the whole answer, or to the first streamed event.
std::vector<double> measure(const Target& target, int connections, int per_connection, bool stream) {
  std::vector<std::vector<double>> results(static_cast<std::size_t>(connections));
  std::vector<std::thread> clients;
  for (int c = 0; c < connections; ++c) {
    clients.emplace_back([&, c] {
      test::RawConnection connection(target.port);
      std::string request = test::build_request("POST", target.path, test::chat_body(target.model, "measure me", stream).dump());
      for (int i = 0; i < per_connection; ++i) {
        auto started = Clock::now();
        if (!connection.send(request)) return;
        if (stream) {
          connection.read_until("data: ");
          results[static_cast<std::size_t>(c)].push_back(std::chrono::duration<double, std::micro>(Clock::now() - started).count());
          connection.read_until("data: [DONE]\n\n");
          connection.read_until("0\r\n\r\n");
        } else {
          if (!connection.read_response()) return;
          results[static_cast<std::size_t>(c)].push_back(std::chrono::duration<double, std::micro>(Clock::now() - started).count());
        }
      }
    });
  }
  for (auto& client : clients) client.join();
  std::vector<double> all;
  for (auto& part : results) all.insert(all.end(), part.begin(), part.end());
  return all;
}

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> out;
  std::stringstream items(text);
  for (std::string item; std::getline(items, item, ',');) out.push_back(std::stoi(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int requests = 4000;
  std::vector<int> concurrencies = {1, 16, 64};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--requests") requests = std::stoi(argv[i + 1]);
    else if (flag == "--concurrency") concurrencies = parse_list(argv[i + 1]);
  }

  test::MockUpstream mock;
  test::TempDir dir;
  std::string db_path = (dir.path() / "bench.db").string();
  {
    pricing::Database db = pricing::Database::open(db_path);
    pricing::upsert_provider(db, {"mock", mock.base_url(), "", "openai", true});
    test::put_route(db, "m", "mock", "mock-ok", 0.1, 0.1);
  }
  gateway::ServerConfig config;
  config.listen_port = 0;
  config.db_path = db_path;
  config.io_threads = 2;
  gateway::Gateway gateway(config);
  if (Status started = gateway.start(); !started) {
    std::fprintf(stderr, "gateway: %s\n", started.error().message.c_str());
    return 1;
  }
  Target direct{mock.port(), "/v1/chat/completions", "mock-ok"};
  Target through{gateway.port(), "/v1/chat/completions", "m"};

  std::printf("%-5s %-10s %10s %10s %10s %10s %10s %10s\n", "conns", "kind", "direct p50", "direct p99", "gw p50", "gw p99", "added p50",
              "added p99");
  for (int connections : concurrencies) {
    int per_connection = std::max(20, requests / connections);
    for (bool stream : {false, true}) {
      measure(through, connections, 5, stream);  // warm the pools
      Percentiles d = percentiles(measure(direct, connections, per_connection, stream));
      Percentiles g = percentiles(measure(through, connections, per_connection, stream));
      std::printf("%-5d %-10s %8.0fus %8.0fus %8.0fus %8.0fus %8.0fus %8.0fus\n", connections, stream ? "stream-TTFB" : "whole",
                  d.p50_us, d.p99_us, g.p50_us, g.p99_us, g.p50_us - d.p50_us, g.p99_us - d.p99_us);
    }
  }
  gateway.request_shutdown();
  gateway.wait();
  return 0;
}
