// Writes the ledger and the live statistics to SQLite on a thread of its own, so the request path only
// pushes a record onto a bounded queue. A full queue makes record() wait (backpressure) rather than
// drop a row; a failing database is retried, and rows that still cannot be written at stop are reported.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "pricing/ledger.h"
#include "pricing/live_stats.h"

namespace mg::pricing {

struct RecorderOptions {
  std::size_t queue_capacity = 65'536;
  std::size_t batch_size = 1'024;
  std::chrono::milliseconds flush_interval{100};
  std::chrono::milliseconds stats_interval{5'000};
  std::chrono::milliseconds retry_backoff{200};
  std::chrono::milliseconds give_up_after_at_stop{5'000};
};

class UsageRecorder {
 public:
  // Opens its own connection to `db_path` (throws at start-up if it cannot) and starts the writer thread.
  // `stats` (optional) is persisted into routes.measured_* every stats_interval.
  UsageRecorder(const std::string& db_path, const LiveStats* stats, RecorderOptions options = {});
  ~UsageRecorder();
  UsageRecorder(const UsageRecorder&) = delete;
  UsageRecorder& operator=(const UsageRecorder&) = delete;

  void record(LedgerRecord row);
  // Blocks until every row recorded before the call is committed (or stop() gave up on it).
  void flush();
  // Flushes, persists the stats a last time and joins the thread. Idempotent.
  void stop();

  std::int64_t rows_written() const { return rows_written_.load(); }
  std::int64_t rows_lost() const { return rows_lost_.load(); }

 private:
  void run();
  bool write_batch(std::vector<LedgerRecord>& batch);
  void persist_stats();

  Database db_;
  const LiveStats* stats_;
  RecorderOptions options_;
  std::mutex mutex_;
  std::condition_variable wake_writer_;
  std::condition_variable space_or_progress_;
  std::deque<LedgerRecord> queue_;
  std::uint64_t recorded_ = 0;  // rows ever handed to record()
  std::uint64_t settled_ = 0;   // rows written or given up on
  bool stopping_ = false;
  bool stopped_ = false;  // the writer thread has exited
  std::atomic<std::int64_t> rows_written_{0};
  std::atomic<std::int64_t> rows_lost_{0};
  std::thread thread_;
};

// Writes the measured figures into the routes table (they show in `catalogue list` and survive restarts).
void persist_route_figures(Database& db, const std::vector<std::pair<std::string, RouteFigures>>& figures);

}  // namespace mg::pricing
