// Keeps a short timer always pending on an io_context, so that the many long per-request timeouts
// (seconds to minutes: header, body, write, upstream) are never its earliest timer. Asio reprograms its
// timerfd with a system call whenever the earliest timer changes, which would otherwise happen half a
// dozen times per request; with the anchor it happens once per period.
#pragma once

#include <chrono>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace mg::gateway {

class TimerAnchor {
 public:
  explicit TimerAnchor(boost::asio::io_context& io) : timer_(io) { arm(); }
  TimerAnchor(const TimerAnchor&) = delete;
  TimerAnchor& operator=(const TimerAnchor&) = delete;

 private:
  static constexpr std::chrono::milliseconds kPeriod{500};

  void arm() {
    timer_.expires_after(kPeriod);
    timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) arm();  // cancelled only by the anchor's destruction, after its io_context stopped
    });
  }

  boost::asio::steady_timer timer_;
};

}  // namespace mg::gateway
