// Ledger rows and checks shared by the ledger writer's, the recorder's and the crash journal's tests.
#pragma once

#include <chrono>
#include <functional>
#include <ostream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "pricing/ledger.h"
#include "pricing/usage_recorder.h"

namespace mg::pricing {
// For gtest's messages: which row differs, by its key.
inline void PrintTo(const LedgerRecord& row, std::ostream* out) {
  *out << "{request_id " << row.request_id << ", created_at_ms " << row.created_at_ms << ", duration_ms " << row.duration_ms << "}";
}
}  // namespace mg::pricing

namespace mg::test {

using namespace std::chrono_literals;

inline pricing::LedgerRecord row(int index) {
  pricing::LedgerRecord record;
  record.request_id = "req-" + std::to_string(index);
  record.created_at_ms = 1'790'000'000'000 + index;
  record.requested_model = "m";
  record.route = "p/m";
  record.prompt_tokens = 10;
  record.completion_tokens = index;
  record.cost_usd = 0.001 * index;
  record.status = 200;
  return record;
}

// A row whose every field depends on `index` (empty and missing values included, by turns).
inline pricing::LedgerRecord varied_row(int index) {
  pricing::LedgerRecord record = row(index);
  record.api_key_id = index % 3 == 0 ? "" : "key-" + std::to_string(index % 3);
  record.requested_model = "model-" + std::to_string(index);
  record.route = "provider/" + std::to_string(index * 7);
  record.prompt_tokens = 1000 + index;
  if (index % 2 == 0) record.ttft_ms = 0.5 * index;
  record.duration_ms = 3.25 * index;
  record.status = index % 5 == 0 ? 502 : 200;
  record.error_code = index % 5 == 0 ? "upstream_http_500" : "";
  record.routes_tried_json = "[\"try-" + std::to_string(index) + "\"]";
  record.stream = index % 4 == 1;
  return record;
}

// The ledger's rows; a request id twice fails the test.
inline std::int64_t ledger_count(const std::string& db_path) {
  pricing::Database db = pricing::Database::open(db_path);
  pricing::Statement count = db.prepare("SELECT COUNT(*), COUNT(DISTINCT request_id) FROM usage_ledger");
  count.step();
  EXPECT_EQ(count.integer(0), count.integer(1)) << "a row was written twice";
  return count.integer(0);
}

// Quick retries, so that the tests see the outcome of several attempts in well under a second.
inline pricing::RecorderOptions quick_options() {
  pricing::RecorderOptions options;
  options.flush_interval = 10ms;
  options.busy_timeout = 50ms;
  options.retry_backoff = 20ms;
  options.retry_backoff_max = 100ms;
  options.give_up_after_at_stop = 200ms;
  return options;
}

inline bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

}  // namespace mg::test
