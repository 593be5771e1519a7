// Deadline: expiry at the deadline, never before it, however often the deadline moves; a deadline nearer
// than the timer's wake-up still fires on time; a cleared or ownerless deadline never calls back.
#include "core/deadline.h"

#include <chrono>
#include <memory>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

namespace mg {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Owner {
  explicit Owner(boost::asio::io_context& io, Clock::duration max_sleep) : deadline(io.get_executor(), max_sleep) {}
  Deadline deadline;
  int expiries = 0;
  Clock::time_point expired_at;
};

std::shared_ptr<Owner> make_owner(boost::asio::io_context& io, Clock::duration max_sleep) {
  auto owner = std::make_shared<Owner>(io, max_sleep);
  owner->deadline.bind(owner, [raw = owner.get()] {
    ++raw->expiries;
    raw->expired_at = Clock::now();
  });
  return owner;
}

// Runs `io` for `duration`, whatever else is pending.
void run_for(boost::asio::io_context& io, Clock::duration duration) {
  io.restart();
  io.run_for(duration);
}

TEST(DeadlineTest, ExpiresOnceAtTheDeadlineAcrossSeveralWakeUps) {
  boost::asio::io_context io;
  auto owner = make_owner(io, 10ms);  // wakes about six times before the deadline
  auto set_at = Clock::now();
  owner->deadline.expire_after(60ms);
  EXPECT_TRUE(owner->deadline.is_set());
  run_for(io, 200ms);
  ASSERT_EQ(owner->expiries, 1);
  EXPECT_GE(owner->expired_at - set_at, 60ms);
  EXPECT_FALSE(owner->deadline.is_set());
}

TEST(DeadlineTest, MovingTheDeadlineLaterPostponesTheExpiry) {
  boost::asio::io_context io;
  auto owner = make_owner(io, 20ms);
  owner->deadline.expire_after(30ms);
  boost::asio::steady_timer later(io);
  Clock::time_point moved_at;
  later.expires_after(20ms);
  later.async_wait([&](boost::system::error_code) {
    moved_at = Clock::now();
    owner->deadline.expire_after(80ms);
  });
  run_for(io, 250ms);
  ASSERT_EQ(owner->expiries, 1);
  EXPECT_GE(owner->expired_at - moved_at, 80ms);
}

TEST(DeadlineTest, ANearerDeadlineThanTheNextWakeUpStillFiresOnTime) {
  boost::asio::io_context io;
  auto owner = make_owner(io, 10s);
  owner->deadline.expire_after(5s);  // the timer now sleeps for 5 s
  auto set_at = Clock::now();
  owner->deadline.expire_after(30ms);
  run_for(io, 1s);
  ASSERT_EQ(owner->expiries, 1);
  EXPECT_GE(owner->expired_at - set_at, 30ms);
  EXPECT_LT(owner->expired_at - set_at, 900ms);
}

TEST(DeadlineTest, AClearedDeadlineNeverExpires) {
  boost::asio::io_context io;
  auto owner = make_owner(io, 10ms);
  owner->deadline.expire_after(30ms);
  owner->deadline.clear();
  EXPECT_FALSE(owner->deadline.is_set());
  run_for(io, 100ms);
  EXPECT_EQ(owner->expiries, 0);
}

TEST(DeadlineTest, ADeadlineCanBeSetAgainAfterItExpired) {
  boost::asio::io_context io;
  auto owner = make_owner(io, 10ms);
  owner->deadline.expire_after(20ms);
  run_for(io, 100ms);
  owner->deadline.expire_after(20ms);
  run_for(io, 100ms);
  EXPECT_EQ(owner->expiries, 2);
}

TEST(DeadlineTest, NoCallbackOnceTheOwnerIsGone) {
  boost::asio::io_context io;
  int expiries = 0;
  {
    auto owner = std::make_shared<Owner>(io, 10ms);
    owner->deadline.bind(owner, [&expiries] { ++expiries; });
    owner->deadline.expire_after(20ms);
  }  // the timer's pending wait is cancelled with it; its handler must not touch the dead owner
  run_for(io, 100ms);
  EXPECT_EQ(expiries, 0);
}

// All the deadlines of an io_context share one timer: each still expires at its own time, and clearing
// or ending one leaves the others be.
TEST(DeadlineTest, DeadlinesSharingAnIoContextEachExpireAtTheirOwnTime) {
  boost::asio::io_context io;
  auto early = make_owner(io, 1s);
  auto late = make_owner(io, 1s);
  auto cleared = make_owner(io, 1s);
  auto ended = make_owner(io, 1s);
  auto set_at = Clock::now();
  late->deadline.expire_after(120ms);
  early->deadline.expire_after(40ms);
  cleared->deadline.expire_after(60ms);
  ended->deadline.expire_after(60ms);
  cleared->deadline.clear();
  ended.reset();
  run_for(io, 300ms);
  ASSERT_EQ(early->expiries, 1);
  ASSERT_EQ(late->expiries, 1);
  EXPECT_EQ(cleared->expiries, 0);
  EXPECT_GE(early->expired_at - set_at, 40ms);
  EXPECT_LT(early->expired_at - set_at, 110ms);
  EXPECT_GE(late->expired_at - set_at, 120ms);
}

// An expiry that ends another owner whose deadline was due at the same wake-up must not call it.
TEST(DeadlineTest, AnExpiryMayEndAnotherOwnerDueAtTheSameTime) {
  boost::asio::io_context io;
  auto first = make_owner(io, 1s);
  auto second = make_owner(io, 1s);
  int calls = 0;
  first->deadline.bind(first, [&] { ++calls, second.reset(); });
  second->deadline.bind(second, [&] { ++calls, first.reset(); });
  first->deadline.expire_after(20ms);
  second->deadline.expire_after(20ms);
  std::this_thread::sleep_for(30ms);  // both due by the first wake-up
  run_for(io, 100ms);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace mg
