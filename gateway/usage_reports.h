// GET /v1/usage: ledger aggregates computed on a thread of their own (SQLite never runs on an I/O
// thread), with the answer posted back to the requesting connection's strand.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>

#include "pricing/ledger.h"
#include "core/result.h"

namespace mg::gateway {

class UsageReports {
 public:
  explicit UsageReports(const std::string& db_path);  // throws at start-up if the file cannot be opened
  ~UsageReports();
  UsageReports(const UsageReports&) = delete;
  UsageReports& operator=(const UsageReports&) = delete;

  using Callback = std::function<void(Result<std::vector<pricing::UsageRow>>)>;
  // Runs the query on the report thread; `done` runs on `reply_on`.
  void query(pricing::UsageFilter filter, boost::asio::any_io_executor reply_on, Callback done);

 private:
  pricing::Database db_;  // used only on pool_'s thread
  boost::asio::thread_pool pool_{1};
};

// Parses "from_ms=..&to_ms=..&group_by=model|route|key|day"; 400 naming the parameter on a bad value.
Result<pricing::UsageFilter> parse_usage_query(std::string_view query);

}  // namespace mg::gateway
