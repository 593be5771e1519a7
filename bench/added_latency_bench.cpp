// The latency modelgate adds on loopback. Each client holds two keep-alive connections, one straight to
// a mock upstream and one through the gateway to the same mock, and sends the same request down each in
// turn, so both paths see the same moment of a noisy machine. Two measurements at each concurrency:
//
//   paced     every client sends at a fixed pace (--rate requests per second per path, spread over the
//             clients, with random phases): the latency of one request when the gateway is not
//             saturated, measured from the intended send time, so a late client is not flattered.
//             Reports p50 / p99 per path and the differences.
//   saturated every client sends back to back: the most each path can carry, in requests per second.
//
// Both for whole (non-streamed) answers and for the first byte of a streamed one.
//
// With --reference-port, a third path goes through a reference proxy listening there (say nginx, started
// by hand with its upstream at 127.0.0.1:<--mock-port>), to compare with what any extra hop costs here.
//
//   build/release/bench/mg_bench_added_latency [--rate 1000] [--seconds 4] [--concurrency 1,16,64] [--threads 2]
//                                              [--mock-port P --reference-port R] [--access-log FILE|off]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/mock_upstream.h"
#include "tests/support/test_gateway.h"

namespace {

using namespace mg;
using Clock = std::chrono::steady_clock;
using Microseconds = std::chrono::duration<double, std::micro>;

struct Path {
  std::uint16_t port;
  std::string request;  // the whole HTTP request, sent as is
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

// Sends the request and reads its answer; returns when the first byte of the answer that matters came
// (the whole answer, or a streamed answer's first event), after reading the rest.
std::optional<Clock::time_point> exchange(test::RawConnection& connection, const Path& path, bool stream) {
  if (!connection.send(path.request)) return std::nullopt;
  if (!stream) {
    if (!connection.read_response()) return std::nullopt;
    return Clock::now();
  }
  if (connection.read_until("data: ").empty()) return std::nullopt;
  auto first_event = Clock::now();
  connection.read_until("0\r\n\r\n");
  return first_event;
}

// Latencies in microseconds, per path.
using Samples = std::vector<std::vector<double>>;

// One client, with a connection per path, taking the paths in turn (the order rotates, so no path always
// goes first). `interval` zero: back to back; otherwise paced, from a random phase.
void run_client(const std::vector<Path>& paths, bool stream, Clock::duration interval, Clock::time_point until, Samples& out) {
  std::vector<std::unique_ptr<test::RawConnection>> connections;
  for (const Path& path : paths) connections.push_back(std::make_unique<test::RawConnection>(path.port));
  out.assign(paths.size(), {});
  std::mt19937_64 random{std::random_device{}()};
  Clock::time_point next = Clock::now();
  if (interval.count() > 0) next += Clock::duration(std::uniform_int_distribution<Clock::rep>(0, interval.count())(random));
  for (std::size_t n = 0; Clock::now() < until; ++n) {
    for (std::size_t leg = 0; leg < paths.size(); ++leg) {
      std::size_t which = (n + leg) % paths.size();
      if (interval.count() > 0) std::this_thread::sleep_until(next);
      Clock::time_point intended = interval.count() > 0 ? next : Clock::now();
      auto done = exchange(*connections[which], paths[which], stream);
      if (!done) return;
      out[which].push_back(Microseconds(*done - intended).count());
      next += interval / static_cast<Clock::rep>(paths.size());
    }
  }
}

// `clients` clients for `seconds`, each sending `rate_per_path / clients` requests per second down each
// path (0: back to back).
Samples measure(const std::vector<Path>& paths, int clients, bool stream, double rate_per_path, double seconds) {
  std::vector<Samples> parts(static_cast<std::size_t>(clients));
  auto interval = rate_per_path > 0 ? std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(clients / rate_per_path))
                                    : Clock::duration::zero();
  auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (auto& part : parts) threads.emplace_back(run_client, std::cref(paths), stream, interval, until, std::ref(part));
  for (auto& thread : threads) thread.join();
  Samples all(paths.size());
  for (const Samples& part : parts) {
    for (std::size_t i = 0; i < part.size(); ++i) all[i].insert(all[i].end(), part[i].begin(), part[i].end());
  }
  return all;
}

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> out;
  std::stringstream items(text);
  for (std::string item; std::getline(items, item, ',');) out.push_back(std::stoi(item));
  return out;
}

Path path_to(std::uint16_t port, const std::string& model, bool stream) {
  return {port, test::build_request("POST", "/v1/chat/completions", test::chat_body(model, "measure me", stream).dump())};
}

}  // namespace

int main(int argc, char** argv) {
  double rate = 1000;
  double seconds = 4;
  std::vector<int> concurrencies = {1, 16, 64};
  int threads = 2;
  int mock_port = 0;
  int reference_port = 0;
  std::string access_log;  // empty: a file in the temporary directory
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--rate") rate = std::stod(argv[i + 1]);
    else if (flag == "--seconds") seconds = std::stod(argv[i + 1]);
    else if (flag == "--concurrency") concurrencies = parse_list(argv[i + 1]);
    else if (flag == "--threads") threads = std::stoi(argv[i + 1]);
    else if (flag == "--mock-port") mock_port = std::stoi(argv[i + 1]);
    else if (flag == "--reference-port") reference_port = std::stoi(argv[i + 1]);
    else if (flag == "--access-log") access_log = argv[i + 1];
  }

  test::MockUpstream mock(std::nullopt, static_cast<std::uint16_t>(mock_port));
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
  config.io_threads = threads;
  config.local.enabled = false;
  // As deployed: one line per request to a file ("off" measures the gateway without it).
  config.access_log = access_log.empty() ? (dir.path() / "access.log").string() : access_log;
  gateway::Gateway gateway(config);
  if (Status started = gateway.start(); !started) {
    std::fprintf(stderr, "gateway: %s\n", started.error().message.c_str());
    return 1;
  }

  std::printf("paced at %.0f requests/s per path; latency in microseconds; saturated: each path alone, back to back\n", rate);
  std::printf("%-6s %-12s %15s %16s %15s | %24s", "conns", "kind", "direct p50/p99", "gateway p50/p99", "added p50/p99",
              "saturated req/s dir / gw");
  if (reference_port) std::printf(" | %15s %15s", "ref p50/p99", "ref added");
  std::printf("\n");
  for (int clients : concurrencies) {
    for (bool stream : {false, true}) {
      std::vector<Path> paths = {path_to(mock.port(), "mock-ok", stream), path_to(gateway.port(), "m", stream)};
      if (reference_port) paths.push_back(path_to(static_cast<std::uint16_t>(reference_port), "mock-ok", stream));
      measure({paths[1]}, clients, stream, 0, 0.3);  // warm the pools
      Samples paced = measure(paths, clients, stream, rate, seconds);
      double direct_rate = static_cast<double>(measure({paths[0]}, clients, stream, 0, seconds / 4)[0].size()) / (seconds / 4);
      double through_rate = static_cast<double>(measure({paths[1]}, clients, stream, 0, seconds / 4)[0].size()) / (seconds / 4);
      Percentiles d = percentiles(paced[0]);
      Percentiles g = percentiles(paced[1]);
      std::printf("%-6d %-12s %7.0f / %-6.0f %7.0f / %-7.0f %7.0f / %-6.0f | %10.0f / %-10.0f", clients, stream ? "stream TTFB" : "whole",
                  d.p50_us, d.p99_us, g.p50_us, g.p99_us, g.p50_us - d.p50_us, g.p99_us - d.p99_us, direct_rate, through_rate);
      if (reference_port) {
        Percentiles r = percentiles(paced[2]);
        std::printf(" | %7.0f / %-6.0f %7.0f / %-6.0f", r.p50_us, r.p99_us, r.p50_us - d.p50_us, r.p99_us - d.p99_us);
      }
      std::printf("\n");
    }
  }
  gateway.request_shutdown();
  gateway.wait();
  return 0;
}
