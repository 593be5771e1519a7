#include "core/deadline.h"

#include <algorithm>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace mg {

namespace net = boost::asio;
using Clock = Deadline::Clock;
constexpr Clock::time_point kNever = Clock::time_point::max();

// The deadlines of one io_context and the one timer that watches them. Its lock makes it safe on an
// io_context that several threads run; on the gateway's (one thread each) it is never contended.
class DeadlineService : public net::execution_context::service {
 public:
  using key_type = DeadlineService;
  static net::execution_context::id id;

  explicit DeadlineService(net::execution_context& context) : service(context) {}

  void add(Deadline& deadline, Clock::duration max_sleep) {
    std::lock_guard lock(mutex_);
    deadline.next_ = first_;
    if (first_) first_->previous_ = &deadline;
    first_ = &deadline;
    longest_sleep_ = std::min(longest_sleep_, max_sleep);
  }

  void remove(Deadline& deadline) {
    std::lock_guard lock(mutex_);
    if (deadline.previous_) deadline.previous_->next_ = deadline.next_;
    else first_ = deadline.next_;
    if (deadline.next_) deadline.next_->previous_ = deadline.previous_;
  }

  void set(Deadline& deadline, Clock::duration timeout) {
    Clock::time_point now = Clock::now();
    std::lock_guard lock(mutex_);
    deadline.deadline_ = now + timeout;
    ++deadline.generation_;
    if (deadline.deadline_ >= wake_at_ || shut_down_) return;
    if (!timer_) timer_.emplace(deadline.executor_);  // on the first user's executor: any will do
    wake_at(std::min(deadline.deadline_, now + longest_sleep_));
  }

  void clear(Deadline& deadline) {
    std::lock_guard lock(mutex_);
    deadline.deadline_ = kNever;
    ++deadline.generation_;
  }

  bool is_set(const Deadline& deadline) {
    std::lock_guard lock(mutex_);
    return deadline.deadline_ != kNever;
  }

 private:
  // An expiry found due, to run once the lock is released, on the deadline's own executor.
  struct Due {
    Deadline* deadline;
    std::weak_ptr<void> owner;
    std::uint64_t generation;
  };

  void shutdown() override {
    std::lock_guard lock(mutex_);
    shut_down_ = true;
    timer_.reset();
  }

  // Called with the lock held.
  void wake_at(Clock::time_point when) {
    if (!timer_) return;
    wake_at_ = when;
    timer_->expires_at(when);  // cancels a pending wait, whose handler then sees an old generation
    timer_->async_wait([this, generation = ++wake_generation_](boost::system::error_code ec) {
      if (!ec) on_wake(generation);
    });
  }

  void on_wake(std::uint64_t generation) {
    std::vector<Due> due;
    {
      std::lock_guard lock(mutex_);
      if (generation != wake_generation_) return;
      wake_at_ = kNever;
      Clock::time_point now = Clock::now();
      Clock::time_point next = kNever;
      for (Deadline* deadline = first_; deadline; deadline = deadline->next_) {
        if (deadline->deadline_ <= now) due.push_back({deadline, deadline->owner_, deadline->generation_});
        else next = std::min(next, deadline->deadline_);
      }
      if (next != kNever) wake_at(std::min(next, now + longest_sleep_));
    }
    for (Due& entry : due) expire(std::move(entry));
  }

  // The owner is locked first (an expiry run before may have ended it): alive, it keeps its deadline
  // alive too. The generation then tells whether the deadline was moved or cleared since it was found
  // due (the executor, a strand, may queue the call).
  void expire(Due entry) {
    std::shared_ptr<void> alive = entry.owner.lock();
    if (!alive) return;
    net::any_io_executor executor = entry.deadline->executor_;
    net::dispatch(executor, [this, alive = std::move(alive), entry = std::move(entry)] {
      {
        std::lock_guard lock(mutex_);
        if (entry.deadline->generation_ != entry.generation || entry.deadline->deadline_ == kNever) return;
        entry.deadline->deadline_ = kNever;
        ++entry.deadline->generation_;
      }
      if (entry.deadline->on_expiry_) entry.deadline->on_expiry_();
    });
  }

  std::mutex mutex_;
  Deadline* first_ = nullptr;
  Clock::duration longest_sleep_ = Clock::duration::max();  // the shortest max_sleep declared
  Clock::time_point wake_at_ = kNever;                      // kNever: no wait pending
  std::uint64_t wake_generation_ = 0;
  std::optional<net::steady_timer> timer_;  // made on first use, reset at shutdown
  bool shut_down_ = false;
};

net::execution_context::id DeadlineService::id;

Deadline::Deadline(net::any_io_executor executor, Clock::duration max_sleep)
    : executor_(std::move(executor)), service_(net::use_service<DeadlineService>(net::query(executor_, net::execution::context))) {
  service_.add(*this, std::max(max_sleep, Clock::duration(std::chrono::milliseconds(1))));
}

Deadline::~Deadline() { service_.remove(*this); }

void Deadline::bind(std::weak_ptr<void> owner, std::function<void()> on_expiry) {
  owner_ = std::move(owner);
  on_expiry_ = std::move(on_expiry);
}

void Deadline::expire_after(Clock::duration timeout) { service_.set(*this, timeout); }

void Deadline::clear() { service_.clear(*this); }

bool Deadline::is_set() const { return service_.is_set(*this); }

}  // namespace mg
