// A cancellation flag shared between the session that owns a request and the provider serving it.
// The session cancels when its client disconnects; providers poll it or register a callback.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace mg {

class CancellationToken {
 public:
  CancellationToken() : state_(std::make_shared<State>()) {}

  // Runs every registered callback once, on the calling thread. Later calls do nothing.
  void cancel() const;
  bool cancelled() const { return state_->cancelled.load(std::memory_order_acquire); }

  // Registers a callback run on cancel(); runs it at once if already cancelled. Callbacks must not own
  // what owns the token (hold weak_ptrs), or the pair never dies.
  void on_cancel(std::function<void()> callback) const;

 private:
  struct State {
    std::atomic<bool> cancelled{false};
    std::mutex mutex;
    std::vector<std::function<void()>> callbacks;
  };
  std::shared_ptr<State> state_;
};

inline void CancellationToken::cancel() const {
  std::vector<std::function<void()>> callbacks;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->cancelled.exchange(true, std::memory_order_acq_rel)) return;
    callbacks.swap(state_->callbacks);
  }
  for (auto& callback : callbacks) callback();
}

inline void CancellationToken::on_cancel(std::function<void()> callback) const {
  {
    std::lock_guard lock(state_->mutex);
    if (!cancelled()) {
      state_->callbacks.push_back(std::move(callback));
      return;
    }
  }
  callback();
}

}  // namespace mg
