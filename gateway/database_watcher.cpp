#include "gateway/database_watcher.h"

#include "gateway/log.h"

namespace mg::gateway {

DatabaseWatcher::DatabaseWatcher(const std::string& db_path, std::vector<DatabaseWatch> watches, std::chrono::milliseconds interval)
    : db_(pricing::Database::open(db_path)), watches_(std::move(watches)), interval_(interval) {
  for (const DatabaseWatch& watch : watches_) seen_versions_.push_back(watch.version(db_));
  thread_ = std::thread([this] { run(); });
}

DatabaseWatcher::~DatabaseWatcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void DatabaseWatcher::run() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
    for (std::size_t i = 0; i < watches_.size(); ++i) poll(i);
  }
}

void DatabaseWatcher::poll(std::size_t index) {
  const DatabaseWatch& watch = watches_[index];
  try {
    std::int64_t version = watch.version(db_);
    if (version == seen_versions_[index]) return;
    if (watch.applied_version && watch.applied_version() >= version) {  // this process made the change and applied it
      seen_versions_[index] = version;
      return;
    }
    watch.reload(db_);
    seen_versions_[index] = version;
    log_info(watch.what + " changed (version " + std::to_string(version) + "): the running gateway now uses the new one");
  } catch (const std::exception& e) {
    log_warn(watch.what + " reload failed, keeping the current one: " + e.what());
  }
}

}  // namespace mg::gateway
