// A deadline for the operation in progress (a client's next request, an upstream's next byte, a whole
// answer), without a timer of its own. Every Asio timer that is armed and then cancelled costs a posted
// handler, and Beast's per-operation timeouts arm and cancel one around each read and write: several
// handler rounds per request, for timeouts that hardly ever fire. All the deadlines of an io_context share
// one timer instead (DeadlineService): setting, moving or clearing a deadline is a store under a lock;
// the shared timer wakes at the earliest deadline, or after at most the shortest `max_sleep` any deadline
// declared, and looks them all over. A deadline nearer than the next wake-up re-arms it, so only
// deadlines shorter than that `max_sleep` (rare ones: a drain's, a linger's) cost a timer operation.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include <boost/asio/any_io_executor.hpp>

namespace mg {

class DeadlineService;

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  // The expiry runs on `executor`, which must serialise the owner's operations (its io_context's one
  // thread, or a strand). `max_sleep`: the owner's shortest usual timeout.
  Deadline(boost::asio::any_io_executor executor, Clock::duration max_sleep);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // What expiry does, while `owner` (the object this deadline is a member of) lives. Once, before use.
  void bind(std::weak_ptr<void> owner, std::function<void()> on_expiry);

  void expire_after(Clock::duration timeout);
  void clear();
  bool is_set() const;

 private:
  friend class DeadlineService;

  boost::asio::any_io_executor executor_;
  DeadlineService& service_;
  std::weak_ptr<void> owner_;
  std::function<void()> on_expiry_;
  // Guarded by the service's lock.
  Clock::time_point deadline_ = Clock::time_point::max();
  std::uint64_t generation_ = 0;  // counts settings: an expiry found due is dropped if the deadline moved since
  Deadline* previous_ = nullptr;  // the service's list of its deadlines
  Deadline* next_ = nullptr;
};

}  // namespace mg
