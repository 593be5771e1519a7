// The soak: the real `modelgate` binary as its own process, 50 concurrent streaming clients for a minute
// (MODELGATE_SOAK_SECONDS), against mock upstreams that fail 10% of the time at random points (a 500, no
// answer, a reset or close mid-stream, malformed SSE). Every request must end with a complete answer or a
// proper error, the ledger must hold exactly one row per request, and the gateway's resident memory must
// not grow by more than 10% after warm-up (skipped under AddressSanitizer, whose quarantine grows).
//
// The long soak (README "Soak"): MODELGATE_SOAK_LOAD_PERCENT=70 first measures the gateway's capacity with
// the clients unthrottled for MODELGATE_SOAK_CALIBRATE_SECONDS, then paces them to that share of it;
// MODELGATE_SOAK_FAULT_PERCENT=0 gives clean upstreams, where any non-2xx answer fails the run.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/gateway_process.h"
#include "tests/support/mock_upstream.h"
#include "tests/support/raw_http_client.h"
#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kClients = 50;
constexpr const char* kFullAnswer = "Hi from the mock";

int env_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::atoi(value) : fallback;
}

// How one request ended, as the client saw it; `problem` is set when that is not acceptable.
struct Verdict {
  enum Kind { complete, in_band_error, error_status, broken } kind = broken;
  std::string problem;
};

Verdict judge_stream(const RawResponse& response) {
  std::vector<std::string> events = sse_data_lines(response.body);
  if (events.empty() || events.back() != "[DONE]") return {Verdict::broken, "a stream that did not end with [DONE]"};
  std::string text;
  bool error_seen = false;
  bool stopped = false;
  for (const std::string& event : events) {
    if (event == "[DONE]") continue;
    json chunk = json::parse(event, nullptr, false);
    if (chunk.is_discarded()) return {Verdict::broken, "a data event that is not JSON: " + event};
    if (chunk.contains("error")) {
      error_seen = chunk["error"].contains("message") && chunk["choices"][0]["finish_reason"] == "error";
      continue;
    }
    if (chunk["choices"].empty()) continue;
    const json& choice = chunk["choices"][0];
    if (choice["delta"].contains("content")) text += choice["delta"]["content"].get<std::string>();
    stopped = stopped || choice["finish_reason"] == "stop";
  }
  if (error_seen) {
    if (std::string(kFullAnswer).rfind(text, 0) != 0) return {Verdict::broken, "partial text that is no prefix of the answer: " + text};
    return {Verdict::in_band_error, {}};
  }
  if (text != kFullAnswer || !stopped) return {Verdict::broken, "a clean end without the whole answer: '" + text + "'"};
  return {Verdict::complete, {}};
}

Verdict judge(const std::optional<RawResponse>& response) {
  if (!response) return {Verdict::broken, "no complete response within the timeout"};
  if (response->status == 200) return judge_stream(*response);
  json body = json::parse(response->body, nullptr, false);
  if (body.is_discarded() || !body.contains("error") || !body["error"].contains("message")) {
    return {Verdict::broken, "status " + std::to_string(response->status) + " without an OpenAI error object"};
  }
  return {Verdict::error_status, {}};
}

// Spaces the clients' requests evenly at a total rate, or lets them run back to back (rate 0).
class Pacer {
 public:
  Pacer(double requests_per_s, Clock::time_point start) : interval_(requests_per_s > 0 ? 1.0 / requests_per_s : 0), start_(start) {}
  void wait_for_turn() {
    if (interval_ == 0) return;
    auto turn = next_.fetch_add(1);
    std::this_thread::sleep_until(start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(turn * interval_)));
  }

 private:
  double interval_;  // seconds between two requests, all clients together
  Clock::time_point start_;
  std::atomic<std::int64_t> next_{0};
};

struct Tally {
  std::mutex mutex;
  std::map<Verdict::Kind, int> kinds;
  std::vector<std::string> problems;
  std::atomic<int> sent{0};

  void add(const Verdict& verdict, const std::string& request_id) {
    std::lock_guard lock(mutex);
    ++kinds[verdict.kind];
    if (!verdict.problem.empty() && problems.size() < 10) problems.push_back(request_id + ": " + verdict.problem);
  }
};

// One client: requests back to back on a keep-alive connection (a new one when the gateway closes it),
// half of them asking for resume.
void run_client(const std::string& phase, int client, std::uint16_t port, Clock::time_point until, Pacer& pacer, Tally& tally) {
  std::unique_ptr<RawConnection> connection;
  for (int n = 0; Clock::now() < until; ++n) {
    pacer.wait_for_turn();
    if (Clock::now() >= until) break;
    if (!connection || !connection->connected()) connection = std::make_unique<RawConnection>(port);
    std::string request_id = phase + std::to_string(client) + "-" + std::to_string(n);
    json body = chat_body("soak", "keep going", true);
    body["stream_options"] = {{"include_usage", true}};
    if (n % 2 == 1) body["modelgate"] = {{"resume", true}};
    std::string request = build_request("POST", "/v1/chat/completions", body.dump(),
                                        {{"Content-Type", "application/json"}, {"x-request-id", request_id}});
    if (!connection->send(request)) {
      connection = std::make_unique<RawConnection>(port);
      if (!connection->send(request)) {
        tally.add({Verdict::broken, "cannot send to the gateway"}, request_id);
        continue;
      }
    }
    tally.sent.fetch_add(1);
    std::optional<RawResponse> response = connection->read_response(20s);
    tally.add(judge(response), request_id);
    if (!response || response->header("connection") == "close") connection.reset();
  }
}

std::string write_config(const TempDir& dir, const std::string& db_path, const std::string& access_log) {
  json config = {{"listen", "127.0.0.1:0"}, {"db", db_path}, {"threads", 2}, {"access_log", access_log},
                 {"upstream", {{"first_byte_timeout_ms", 1000}, {"idle_timeout_ms", 1000}}},
                 {"routing", {{"backoff_initial_ms", 5}, {"backoff_max_ms", 20}, {"circuit_consecutive_failures", 1000}}}};
  std::string path = (dir.path() / "soak.json").string();
  std::ofstream(path) << config.dump();
  return path;
}

// Runs the clients unthrottled (calibration, request ids "soak-cal-...") and returns requests per second.
double measure_capacity(std::uint16_t port, int seconds) {
  Tally tally;
  auto started = Clock::now();
  Pacer unthrottled(0, started);
  std::vector<std::thread> clients;
  for (int client = 0; client < kClients; ++client) {
    clients.emplace_back(run_client, "soak-cal-", client, port, started + std::chrono::seconds(seconds), std::ref(unthrottled), std::ref(tally));
  }
  for (auto& client : clients) client.join();
  return tally.sent.load() / std::chrono::duration<double>(Clock::now() - started).count();
}

TEST(SoakTest, FiftyStreamsAgainstFailingUpstreamsLoseNothingAndLeakNothing) {
  const int seconds = env_int("MODELGATE_SOAK_SECONDS", 60);
  const bool check_memory = env_int("MODELGATE_SOAK_CHECK_RSS", 1) != 0;
  const int load_percent = env_int("MODELGATE_SOAK_LOAD_PERCENT", 0);  // 0: unthrottled
  const int fault_percent = env_int("MODELGATE_SOAK_FAULT_PERCENT", 10);
  ASSERT_TRUE(fault_percent == 0 || fault_percent == 10) << "the mock upstream fails 0% or 10% of its answers";
  const std::string upstream_model = fault_percent == 0 ? "mock-ok" : "mock-chaos-10";
  MockUpstream mock;
  TempDir dir;
  std::string db_path = (dir.path() / "soak.db").string();
  {
    pricing::Database db = pricing::Database::open(db_path);
    for (const char* provider : {"flaky-a", "flaky-b", "flaky-c"}) {
      pricing::upsert_provider(db, {provider, mock.base_url(), "", "openai", true});
      put_route(db, "soak", provider, upstream_model, 0.1, 0.2);
    }
  }
  const std::filesystem::path access_log = suite_log_dir().value_or(dir.path()) / ("soak-" + std::to_string(::getpid()) + ".access.log");
  GatewayProcess gateway(MODELGATE_BIN, write_config(dir, db_path, access_log.string()));
  std::uint16_t port = gateway.wait_for_port(10s);
  ASSERT_NE(port, 0) << gateway.log();

  double target_rate = 0;
  if (load_percent > 0) {
    double capacity = measure_capacity(port, env_int("MODELGATE_SOAK_CALIBRATE_SECONDS", 10));
    target_rate = capacity * load_percent / 100.0;
    std::printf("soak: capacity %.0f requests/s with %d unthrottled clients; soaking at %d%%: %.0f/s\n", capacity, kClients, load_percent, target_rate);
  }
  Tally tally;
  auto started = Clock::now();
  auto until = started + std::chrono::seconds(seconds);
  Pacer pacer(target_rate, started);
  std::vector<std::thread> clients;
  for (int client = 0; client < kClients; ++client) {
    clients.emplace_back(run_client, "soak-", client, port, until, std::ref(pacer), std::ref(tally));
  }

  // The peak of memory during warm-up (a third of the run, at least 5 s: the SQLite page caches fill up to
  // their bound meanwhile), and its peak from then on; a sample every 5 s goes to the log. Peak against
  // peak: resident memory swings by a few hundred KiB as the allocator's arenas grow and trim, so one
  // sample at the end of warm-up may catch a trough; a leak still shows as later peaks above earlier ones.
  long warm_kib = 0;
  for (auto warm_until = Clock::now() + std::max(5s, std::chrono::seconds(seconds / 3)); Clock::now() < warm_until;) {
    std::this_thread::sleep_for(500ms);
    warm_kib = std::max(warm_kib, gateway.resident_kib());
  }
  long peak_kib = warm_kib;
  std::string samples;
  for (int tick = 1; Clock::now() < until; ++tick) {
    std::this_thread::sleep_for(500ms);
    long now_kib = gateway.resident_kib();
    peak_kib = std::max(peak_kib, now_kib);
    if (tick % 10 == 0) samples += " " + std::to_string(now_kib);
  }
  for (auto& client : clients) client.join();
  long final_kib = gateway.resident_kib();
  double elapsed_s = std::chrono::duration<double>(Clock::now() - started).count();
  EXPECT_EQ(gateway.stop(30s), 0) << "a clean exit on SIGTERM, ledger flushed";
  if (auto logs = suite_log_dir()) std::ofstream(*logs / ("soak-" + std::to_string(::getpid()) + ".log")) << gateway.log();

  int sent = tally.sent.load();
  std::printf("soak: %d requests in %.1f s (%.0f/s): %d complete, %d ended by an in-band error, %d error statuses, %d broken\n", sent,
              elapsed_s, sent / elapsed_s, tally.kinds[Verdict::complete], tally.kinds[Verdict::in_band_error],
              tally.kinds[Verdict::error_status], tally.kinds[Verdict::broken]);
  std::printf("soak: gateway RSS peak %ld KiB during warm-up, peak %ld KiB after (%+.1f%%), %ld KiB at the end; every 5 s:%s\n", warm_kib,
              peak_kib, 100.0 * (peak_kib - warm_kib) / warm_kib, final_kib, samples.c_str());
  EXPECT_EQ(tally.kinds[Verdict::broken], 0) << ::testing::PrintToString(tally.problems);
  EXPECT_GT(tally.kinds[Verdict::complete], sent / 2) << "most requests survive the faults";
  if (fault_percent > 0) {
    EXPECT_GT(tally.kinds[Verdict::in_band_error] + tally.kinds[Verdict::error_status], 0) << "the faults did happen";
  } else {
    EXPECT_EQ(tally.kinds[Verdict::complete], sent) << "clean upstreams: every answer complete, no non-2xx";
  }

  pricing::Database db = pricing::Database::open(db_path);
  pricing::Statement count = db.prepare(
      "SELECT COUNT(*), COUNT(DISTINCT request_id) FROM usage_ledger WHERE request_id LIKE 'soak-%' AND request_id NOT LIKE 'soak-cal-%'");
  ASSERT_TRUE(count.step());
  EXPECT_EQ(count.integer(0), sent) << "one ledger row per request";
  EXPECT_EQ(count.integer(1), sent) << "and no request twice";

  std::ifstream access_lines(access_log);
  std::int64_t logged = 0;
  for (std::string line; std::getline(access_lines, line);) {
    logged += line.find("\"request_id\":\"soak-") != std::string::npos && line.find("\"request_id\":\"soak-cal-") == std::string::npos;
  }
  EXPECT_EQ(logged, sent) << "one access log line per request";

  if (check_memory) {
    EXPECT_LT(peak_kib, warm_kib * 11 / 10) << "resident memory peaked more than 10% above its warm-up peak";
  }
}

}  // namespace
}  // namespace mg::test
