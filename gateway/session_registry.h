// The live connections, so that shutdown can close idle ones and, at the end of the grace period, all.
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace mg::gateway {

class HttpSession;

class SessionRegistry {
 public:
  void add(const std::shared_ptr<HttpSession>& session) {
    std::lock_guard lock(mutex_);
    sessions_[session.get()] = session;
  }
  void remove(const HttpSession* session) {
    std::lock_guard lock(mutex_);
    sessions_.erase(session);
  }
  std::vector<std::shared_ptr<HttpSession>> live() const {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<HttpSession>> out;
    for (const auto& [key, weak] : sessions_) {
      if (auto session = weak.lock()) out.push_back(std::move(session));
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<const HttpSession*, std::weak_ptr<HttpSession>> sessions_;
};

}  // namespace mg::gateway
