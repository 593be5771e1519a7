// The counters replicas share through Redis: each API key's spend, the reservations of its requests in
// flight, and its request and token rates. Admission and settlement are Lua scripts that Redis runs
// atomically, so the whole fleet keeps the single-node promise: a key ends at most one request's cost
// past its budget, and admits at most requests_per_minute requests in any 60 s.
//
// A reservation is a lease: if the replica that holds it dies, it expires after `lease` and gives its
// amount back. Spend lives in Redis; it is seeded from the ledger when Redis holds none for a key, and
// raised to the ledger's figure whenever that is higher (a settlement lost with a failed Redis call).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "pricing/api_keys.h"
#include "pricing/redis_connection.h"

namespace mg::pricing {

struct SharedAdmission {
  std::string key_id;
  KeyLimits limits;
  double worst_case_cost_usd = 0;
  std::int64_t now_ms = 0;  // the replica's clock: picks the UTC day and month the spend counts in
  KeySpend ledger_spend;     // what the replica knows: seeds a key Redis has never seen
  // A lease for more than this request: up to this many requests and dollars, to admit locally for
  // `use_for` (gateway/fleet_lease.h). 1 and the worst case: this request alone.
  std::int64_t requests_wanted = 1;
  double usd_wanted = 0;
  std::chrono::milliseconds use_for{0};
};

struct SharedVerdict {
  enum class Outcome {
    admitted,
    budget_spent,          // 402
    budget_held,           // 429: what is left is reserved by requests in flight
    requests_rate,         // 429
    tokens_rate,           // 429
    unavailable,           // Redis did not answer: the caller fails open or closed
  };
  Outcome outcome = Outcome::unavailable;
  std::string window;        // for budgets: "daily", "monthly" or "total"
  double spent_usd = 0;      // for budgets: the fleet's spend in that window
  double limit_usd = 0;
  int retry_after_s = 0;     // for 429s
  std::string lease_id;      // settle it with SharedCounters::settle (unavailable: Redis may have granted it)
  std::int64_t granted_requests = 0;  // for admitted: 1 up to requests_wanted (any number without a rate)
  double granted_usd = 0;             // for admitted: the worst case up to usd_wanted, reserved until settled
  std::string error;         // for unavailable
};

// What a lease's requests did. Sent when the lease is retired, with `keep_reserved_usd` what its
// requests still in flight hold (its unused slots and dollars go back at once), and finally when the
// last of them has ended (`keep_reserved_usd` nullopt: the reservation goes). Each is counted once,
// however often it is sent: a settlement whose answer was lost is sent again (retry_unsent).
struct SharedSettlement {
  std::string key_id;
  std::string lease_id;
  double cost_usd = 0;               // since the lease's last settlement
  std::int64_t tokens = 0;           // likewise
  std::int64_t now_ms = 0;
  std::int64_t slots_used = 0;       // the lease's other request slots leave the rate window
  std::optional<double> keep_reserved_usd;
};

class SharedCounters {
 public:
  SharedCounters(RedisOptions options, std::chrono::milliseconds lease);

  // Runs `done` on the Redis connection's thread with the fleet's verdict.
  void admit(const SharedAdmission& request, std::function<void(SharedVerdict)> done);
  // Counts what the lease's requests cost and frees what it no longer needs. Fire and forget: one Redis
  // did not take is kept (up to kMaxUnsent, for kGiveUpAfter) for retry_unsent.
  void settle(const SharedSettlement& settlement);
  // Sends the settlements Redis did not take again; call it now and then (FleetLimits' sweeper does).
  void retry_unsent();
  std::int64_t settlements_unsent() const;
  std::int64_t settlements_lost() const { return lost_->load(); }  // given up: past kGiveUpAfter or kMaxUnsent

  static constexpr std::size_t kMaxUnsent = 100'000;
  static constexpr std::chrono::minutes kGiveUpAfter{10};
  // Raises the key's shared spend to the ledger's where the ledger's is higher; fire and forget.
  void raise_spend(const std::string& key_id, const KeySpend& ledger_spend, std::int64_t now_ms);

  RedisStatus status() const { return redis_.status(); }
  // RedisConnection::close: what was sent reaches Redis, and no callback runs after it returns.
  void close() { redis_.close(); }

 private:
  struct Unsent {
    std::mutex mutex;
    std::deque<std::pair<SharedSettlement, std::chrono::steady_clock::time_point>> settlements;  // with when first sent
  };
  void send(SharedSettlement settlement, std::chrono::steady_clock::time_point first_sent);

  std::shared_ptr<Unsent> unsent_ = std::make_shared<Unsent>();
  std::shared_ptr<std::atomic<std::int64_t>> lost_ = std::make_shared<std::atomic<std::int64_t>>(0);
  RedisConnection redis_;  // after what its callbacks use
  std::chrono::milliseconds lease_;
  std::string lease_prefix_;  // unique to this process: leases of replicas never collide
  std::atomic<std::uint64_t> next_lease_{0};
};

}  // namespace mg::pricing
