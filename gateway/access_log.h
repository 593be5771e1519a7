// The access log: one JSON line per completion request, formatted and written by a thread of its own
// from a bounded queue, so the request path neither builds JSON for it nor waits for a disk. The writer
// wakes every flush interval or when a batch is waiting, not per request: a wake-up per request cost a
// context switch and a write each, on the cores the I/O threads need. A full queue drops the line and counts it (the
// ledger, not this log, is the record that must never lose a row). Lines carry the key's public id,
// never a key, and each attempt's route and outcome, never an upstream's words (they may echo secrets).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "gateway/metrics.h"
#include "pricing/ledger.h"

namespace mg::gateway {

class AccessLog {
 public:
  // `destination`: "stderr", or a file path to append to. Throws at start-up if the file cannot be opened.
  explicit AccessLog(const std::string& destination, std::size_t queue_capacity = 16'384,
                     std::chrono::milliseconds flush_interval = std::chrono::milliseconds(100));
  ~AccessLog();  // writes what is queued, then stops
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  void record(const pricing::LedgerRecord& row, const RequestFacts& facts);
  std::uint64_t dropped() const;

 private:
  struct Entry {
    pricing::LedgerRecord row;
    RequestFacts facts;
    std::int64_t logged_at_ms;
  };
  void run();

  std::FILE* file_;
  bool owns_file_;
  std::size_t capacity_;
  std::chrono::milliseconds flush_interval_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Entry> entries_;
  bool stopping_ = false;
  std::uint64_t dropped_ = 0;
  std::thread thread_;
};

// The line for one request, without its newline (exposed for tests).
std::string access_log_line(const pricing::LedgerRecord& row, const RequestFacts& facts, std::int64_t logged_at_ms);

}  // namespace mg::gateway
