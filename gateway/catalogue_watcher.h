// Notices catalogue edits made by other processes (the `modelgate catalogue` CLI) and swaps a fresh
// snapshot into the running gateway. Polls a trigger-maintained version number on its own connection
// and thread, so neither the I/O threads nor the ledger writer ever wait for it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "gateway/routing_state.h"

namespace mg::gateway {

class CatalogueWatcher {
 public:
  CatalogueWatcher(const std::string& db_path, RoutingState& routing, std::chrono::milliseconds interval);
  ~CatalogueWatcher();
  CatalogueWatcher(const CatalogueWatcher&) = delete;
  CatalogueWatcher& operator=(const CatalogueWatcher&) = delete;

  std::uint64_t reloads() const { return reloads_.load(); }

 private:
  void run();

  pricing::Database db_;
  RoutingState& routing_;
  std::chrono::milliseconds interval_;
  std::int64_t seen_version_;
  std::atomic<std::uint64_t> reloads_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace mg::gateway
