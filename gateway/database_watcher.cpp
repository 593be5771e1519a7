#include "gateway/database_watcher.h"

#include "gateway/log.h"

namespace mg::gateway {

DatabaseWatcher::DatabaseWatcher(const std::string& db_path, std::vector<DatabaseWatch> watches, std::chrono::milliseconds interval)
    : db_(pricing::Database::open(db_path)), watches_(std::move(watches)), interval_(interval) {
  for (const DatabaseWatch& watch : watches_) seen_versions_.push_back(watch.version(db_));
  failing_.assign(watches_.size(), false);
  thread_ = std::make_unique<PeriodicThread>("mg-db-watcher", interval_, [this] {
    for (std::size_t i = 0; i < watches_.size(); ++i) poll(i);
  });
}

DatabaseWatcher::~DatabaseWatcher() = default;

void DatabaseWatcher::poll(std::size_t index) {
  const DatabaseWatch& watch = watches_[index];
  try {
    check(index);
  } catch (const std::exception& e) {
    // Once per outage, not at every poll: a database locked for an hour must not flood the log.
    if (!failing_[index]) log_warn("cannot read " + watch.what + " from the database, keeping the current ones: " + e.what());
    failing_[index] = true;
    return;
  }
  if (failing_[index]) log_info(watch.what + " can be read from the database again");
  failing_[index] = false;
}

void DatabaseWatcher::check(std::size_t index) {
  const DatabaseWatch& watch = watches_[index];
  std::int64_t version = watch.version(db_);
  if (version == seen_versions_[index]) return;
  if (watch.applied_version && watch.applied_version() >= version) {  // this process made the change and applied it
    seen_versions_[index] = version;
    return;
  }
  watch.reload(db_);
  seen_versions_[index] = version;
  log_info(watch.what + " changed (version " + std::to_string(version) + "): the running gateway now uses the new one");
}

}  // namespace mg::gateway
