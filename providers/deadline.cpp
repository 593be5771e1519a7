#include "providers/deadline.h"

#include <algorithm>

namespace mg {

Deadline::Deadline(boost::asio::any_io_executor executor, Clock::duration max_sleep)
    : timer_(std::move(executor)), max_sleep_(std::max(max_sleep, Clock::duration(std::chrono::milliseconds(1)))) {}

void Deadline::bind(std::weak_ptr<void> owner, std::function<void()> on_expiry) {
  owner_ = std::move(owner);
  on_expiry_ = std::move(on_expiry);
}

void Deadline::expire_after(Clock::duration timeout) {
  Clock::time_point now = Clock::now();
  deadline_ = now + timeout;
  if (deadline_ < wake_at_) wake_at(std::min(deadline_, now + max_sleep_));
}

void Deadline::clear() { deadline_ = kNever; }

void Deadline::wake_at(Clock::time_point when) {
  wake_at_ = when;
  timer_.expires_at(when);  // cancels a pending wait, whose handler then sees an old generation
  timer_.async_wait([owner = owner_, this, generation = ++generation_](boost::system::error_code ec) {
    auto alive = owner.lock();  // before touching `this`, a member of the owner
    if (!alive || ec || generation != generation_) return;
    on_wake();
  });
}

void Deadline::on_wake() {
  wake_at_ = kNever;
  if (deadline_ == kNever) return;
  Clock::time_point now = Clock::now();
  if (now < deadline_) return wake_at(std::min(deadline_, now + max_sleep_));
  deadline_ = kNever;
  if (on_expiry_) on_expiry_();
}

}  // namespace mg
