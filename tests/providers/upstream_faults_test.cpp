// Fault injection: each way an upstream can misbehave, driven through the whole gateway against the
// mock on a real socket. For each: what the client sees, which routes were tried, the ledger row, and
// the faulty route's circuit.
#include <gtest/gtest.h>

#include "tests/support/mock_upstream.h"
#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

struct Fault {
  const char* name;
  const char* upstream_model;  // the faulty route's behaviour; a healthy route follows it in the chain
  bool stream;
  int client_status;
  bool answered_by_fallback;     // true: the client gets the healthy route's full answer
  const char* in_band_error;     // for faults after the first byte: the error chunk's code
  int faulty_attempts;           // attempts on the faulty route (first try plus retries)
  const char* ledger_error_code; // '' when the request succeeded
};

void PrintTo(const Fault& fault, std::ostream* out) { *out << fault.name; }

const Fault kFaults[] = {
    {"HangBeforeHeaders", "mock-hang-head", false, 200, true, nullptr, 2, ""},
    {"Status500", "mock-500", true, 200, true, nullptr, 2, ""},
    {"Status503", "mock-503", false, 200, true, nullptr, 2, ""},
    {"Status500WithLongRetryAfter", "mock-500-retry-after-1", false, 200, true, nullptr, 1, ""},
    {"Status503WithLongRetryAfter", "mock-503-retry-after-1", true, 200, true, nullptr, 1, ""},
    {"MalformedFirstEvent", "mock-bad-sse", true, 200, true, nullptr, 2, ""},
    {"WrongContentType", "mock-text", false, 200, true, nullptr, 2, ""},
    {"HugeBody", "mock-huge", false, 200, true, nullptr, 2, ""},
    {"RateLimited", "mock-429-retry-after-2", false, 200, true, nullptr, 1, ""},
    {"HangMidStream", "mock-hang-mid", true, 200, false, "upstream_timeout", 1, "upstream_timeout"},
    {"ResetMidStream", "mock-reset-mid", true, 200, false, "upstream_unreachable", 1, "upstream_unreachable"},
    {"CloseMidChunkedBody", "mock-broken", true, 200, false, "upstream_unreachable", 1, "upstream_unreachable"},
};

class UpstreamFaultTest : public ::testing::TestWithParam<Fault> {
 protected:
  UpstreamFaultTest() {
    pricing::Database db = pricing::Database::open(db_path_);
    pricing::upsert_provider(db, {"faulty", mock_.base_url(), "", "openai", true});
    pricing::upsert_provider(db, {"healthy", mock_.base_url(), "", "openai", true});
    put_route(db, "f", "faulty", GetParam().upstream_model, 0.1, 0.1);  // cheaper: first in the chain
    put_route(db, "f", "healthy", "mock-ok", 0.2, 0.2);
    server_ = std::make_unique<TestGateway>([this](gateway::ServerConfig& config) {
      config.db_path = db_path_;
      config.upstream.first_byte_timeout = 500ms;
      config.upstream.idle_timeout = 500ms;
      config.upstream.max_body_bytes = 1 << 20;
      config.retry.backoff_initial = 10ms;
      config.retry.max_retry_after = 500ms;
    });
  }

  json ledger_row() {
    json rows = ledger_rows(server_->gateway(), db_path_);
    EXPECT_EQ(rows.size(), 1u);
    return rows.empty() ? json() : rows[0];
  }

  std::string circuit_of(const std::string& route) {
    json listing = json::parse(server_->get("/v1/models")->body);
    for (const json& model : listing["data"]) {
      for (const json& entry : model["routes"]) {
        if (entry["route"] == route) return entry["circuit"];
      }
    }
    return "missing";
  }

  MockUpstream mock_;
  TempDir dir_;
  std::string db_path_ = test_database(dir_, "faults.db");
  std::unique_ptr<TestGateway> server_;
};

TEST_P(UpstreamFaultTest, ClientOutcomeRoutesLedgerAndCircuit) {
  const Fault& fault = GetParam();
  auto response = server_->post("/v1/chat/completions", chat_body("f", "survive this", fault.stream));
  ASSERT_TRUE(response) << "the gateway must answer";
  EXPECT_EQ(response->status, fault.client_status) << response->body.substr(0, 300);

  std::string text;
  json error_chunk;
  if (fault.stream) {
    auto events = sse_data_lines(response->body);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back(), "[DONE]") << "a stream always ends with [DONE], never a bare close";
    for (const std::string& event : events) {
      if (event == "[DONE]") continue;
      json chunk = json::parse(event);
      if (chunk.contains("error")) error_chunk = chunk;
      if (!chunk["choices"].empty() && chunk["choices"][0].contains("delta") && chunk["choices"][0]["delta"].contains("content")) {
        text += chunk["choices"][0]["delta"]["content"].get<std::string>();
      }
    }
  } else if (response->status == 200) {
    text = json::parse(response->body)["choices"][0]["message"]["content"];
  }
  if (fault.answered_by_fallback) {
    EXPECT_EQ(text, "Hi from the mock");
    // A stream's head may have gone out with keep-alive comments while the faulty route was being tried.
    if (!fault.stream) {
      EXPECT_EQ(response->header("x-modelgate-route"), "healthy/f");
    }
    EXPECT_TRUE(error_chunk.is_null()) << error_chunk.dump();
  } else {
    EXPECT_EQ(text, "Hi from ") << "what arrived before the fault is passed through";
    ASSERT_FALSE(error_chunk.is_null());
    EXPECT_EQ(error_chunk["error"]["code"], fault.in_band_error) << error_chunk.dump();
    EXPECT_EQ(error_chunk["choices"][0]["finish_reason"], "error");
  }

  json row = ledger_row();
  EXPECT_EQ(row["status"], fault.client_status);
  EXPECT_EQ(row["error_code"], fault.ledger_error_code);
  int faulty_attempts = 0;
  for (const json& attempt : row["routes_tried"]) faulty_attempts += attempt["route"] == "faulty/f";
  EXPECT_EQ(faulty_attempts, fault.faulty_attempts) << row.dump();
  EXPECT_EQ(row["route"], fault.answered_by_fallback ? "healthy/f" : "faulty/f") << "the route that streamed the partial answer";
  EXPECT_EQ(circuit_of("faulty/f"), "closed") << "one bad request is not enough to open it";
  EXPECT_EQ(circuit_of("healthy/f"), "closed");
}

INSTANTIATE_TEST_SUITE_P(Faults, UpstreamFaultTest, ::testing::ValuesIn(kFaults),
                         [](const auto& test_case) { return std::string(test_case.param.name); });

}  // namespace
}  // namespace mg::test
