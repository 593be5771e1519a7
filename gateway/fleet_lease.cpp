#include "gateway/fleet_lease.h"

#include <algorithm>
#include <utility>

#include "gateway/exchange_accounting.h"

namespace mg::gateway {

FleetLease::FleetLease(std::shared_ptr<pricing::SharedCounters> counters, std::string key_id, const pricing::SharedVerdict& verdict,
                       bool rated, bool budgeted, Clock::time_point use_until, std::optional<double> first_request_usd)
    : counters_(std::move(counters)), key_id_(std::move(key_id)), lease_id_(verdict.lease_id), granted_at_(Clock::now()),
      use_until_(use_until), usd_granted_(verdict.granted_usd), slots_granted_(verdict.granted_requests) {
  if (rated) requests_left_ = verdict.granted_requests;
  if (budgeted) usd_left_ = verdict.granted_usd;
  if (!first_request_usd) return;
  if (requests_left_) --*requests_left_;
  if (usd_left_) *usd_left_ -= *first_request_usd;
  reserved_in_flight_usd_ = *first_request_usd;
  slots_used_ = 1;
  in_flight_ = 1;
}

bool FleetLease::take(double worst_case_usd, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (retired_ || now >= use_until_) return false;
  if (requests_left_ && *requests_left_ < 1) return false;
  if (usd_left_ && *usd_left_ < worst_case_usd) return false;
  if (requests_left_) --*requests_left_;
  if (usd_left_) *usd_left_ -= worst_case_usd;
  reserved_in_flight_usd_ += worst_case_usd;
  ++slots_used_;
  ++in_flight_;
  return true;
}

bool FleetLease::running_low(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  if (now - granted_at_ >= (use_until_ - granted_at_) / 2) return true;
  if (requests_left_ && *requests_left_ * 2 < slots_granted_) return true;
  return usd_left_ && *usd_left_ * 2 < usd_granted_;
}

std::int64_t FleetLease::requests_per_use(Clock::time_point now) const {
  constexpr std::chrono::milliseconds kShortest{10};  // a pace read off the first few milliseconds is noise
  std::lock_guard lock(mutex_);
  const auto elapsed = std::max<Clock::duration>(now - granted_at_, kShortest);
  return static_cast<std::int64_t>(static_cast<double>(slots_used_) * static_cast<double>((use_until_ - granted_at_).count()) /
                                   static_cast<double>(elapsed.count()));
}

void FleetLease::settle(double reserved_usd, double cost_usd, std::int64_t tokens) {
  std::unique_lock lock(mutex_);
  if (usd_left_) *usd_left_ += reserved_usd - cost_usd;
  reserved_in_flight_usd_ -= reserved_usd;
  spent_usd_ += cost_usd;
  tokens_ += tokens;
  --in_flight_;
  if (in_flight_ == 0) reserved_in_flight_usd_ = 0;  // no rounding left behind
  report_when_done(lock);
}

void FleetLease::retire() {
  std::unique_lock lock(mutex_);
  retired_ = true;
  report_when_done(lock);
}

// Twice at most: once retired, with what its requests still in flight hold (the rest goes back to the
// fleet now, not when the slowest request ends), and finally once the last of them has ended.
void FleetLease::report_when_done(std::unique_lock<std::mutex>& lock) {
  if (!retired_ || reported_final_) return;
  const bool final = in_flight_ == 0;
  if (!final && reported_retired_) return;
  reported_retired_ = true;
  reported_final_ = final;
  pricing::SharedSettlement settlement{
      key_id_, lease_id_, std::exchange(spent_usd_, 0.0), std::exchange(tokens_, 0),
      unix_now_ms(), slots_used_, final ? std::nullopt : std::optional(reserved_in_flight_usd_)};
  lock.unlock();
  counters_->settle(settlement);
}

}  // namespace mg::gateway
