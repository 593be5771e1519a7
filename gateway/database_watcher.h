// Notices edits that other processes (the `modelgate catalogue` and `modelgate keys` CLIs) make to the
// database and applies them to the running gateway: a fresh routing snapshot, a fresh keys table. Polls
// trigger-maintained version numbers on its own connection and thread, so neither the I/O threads nor
// the ledger writer ever wait for it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gateway/periodic_thread.h"
#include "pricing/database.h"

namespace mg::gateway {

// One thing to keep in step with the database.
struct DatabaseWatch {
  std::string what;                                                 // "catalogue", "API keys": for the log
  std::function<std::int64_t(const pricing::Database&)> version;    // moves whenever it changes
  std::function<void(const pricing::Database&)> reload;             // may throw: the current state is kept
  // The version this process has already applied itself (the admin API's own changes), or empty.
  std::function<std::int64_t()> applied_version;
};

class DatabaseWatcher {
 public:
  DatabaseWatcher(const std::string& db_path, std::vector<DatabaseWatch> watches, std::chrono::milliseconds interval);
  ~DatabaseWatcher();
  DatabaseWatcher(const DatabaseWatcher&) = delete;
  DatabaseWatcher& operator=(const DatabaseWatcher&) = delete;

 private:
  void poll(std::size_t index);
  void check(std::size_t index);  // throws when the database cannot be read

  pricing::Database db_;
  std::vector<DatabaseWatch> watches_;
  std::vector<std::int64_t> seen_versions_;  // [watches_.size()]
  std::vector<bool> failing_;                // [watches_.size()] the last poll could not read the database
  std::chrono::milliseconds interval_;
  std::unique_ptr<PeriodicThread> thread_;  // last: it stops before what it polls goes
};

}  // namespace mg::gateway
