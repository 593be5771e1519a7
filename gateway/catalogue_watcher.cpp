#include "gateway/catalogue_watcher.h"

#include "gateway/log.h"

namespace mg::gateway {

CatalogueWatcher::CatalogueWatcher(const std::string& db_path, RoutingState& routing, std::chrono::milliseconds interval)
    : db_(pricing::Database::open(db_path)), routing_(routing), interval_(interval), seen_version_(pricing::catalogue_version(db_)),
      thread_([this] { run(); }) {}

CatalogueWatcher::~CatalogueWatcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void CatalogueWatcher::run() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
    try {
      std::int64_t version = pricing::catalogue_version(db_);
      if (version == seen_version_) continue;
      routing_.reload(db_);
      seen_version_ = version;
      reloads_.fetch_add(1);
      log_info("catalogue changed (version " + std::to_string(version) + "): new routing snapshot in use");
    } catch (const std::exception& e) {
      log_warn(std::string("catalogue reload failed, keeping the current snapshot: ") + e.what());
    }
  }
}

}  // namespace mg::gateway
