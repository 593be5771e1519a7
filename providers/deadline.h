// A deadline for the operation in progress (a client's next request, an upstream's next byte), kept on
// one timer that is almost never re-armed or cancelled. Every cancelled Asio wait posts a handler, and
// Beast's per-operation timeouts arm and cancel a timer around each read and write: several handler rounds
// per request, for timeouts that hardly ever fire. Here moving a deadline is a store: the timer wakes at
// most every `max_sleep` and sleeps on until the deadline. Only a deadline nearer than the timer's next
// wake-up re-arms it, so a caller whose timeouts are all at least `max_sleep` never does.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

namespace mg {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  // `executor` runs the expiry; it must be the one that serialises the owner's operations.
  Deadline(boost::asio::any_io_executor executor, Clock::duration max_sleep);
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // What expiry does, while `owner` (the object this deadline is a member of) lives. Once, before use.
  void bind(std::weak_ptr<void> owner, std::function<void()> on_expiry);

  void expire_after(Clock::duration timeout);
  void clear();
  bool is_set() const { return deadline_ != kNever; }

 private:
  static constexpr Clock::time_point kNever = Clock::time_point::max();

  void wake_at(Clock::time_point when);
  void on_wake();

  boost::asio::steady_timer timer_;
  Clock::duration max_sleep_;
  Clock::time_point deadline_ = kNever;
  Clock::time_point wake_at_ = kNever;  // kNever: no wait pending
  std::uint64_t generation_ = 0;        // of the pending wait; an older one's handler does nothing
  std::weak_ptr<void> owner_;
  std::function<void()> on_expiry_;
};

}  // namespace mg
