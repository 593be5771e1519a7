#include "pricing/shared_counters.h"

#include "pricing/redis_script.h"

#include <unistd.h>

#include <cstdio>
#include <random>

namespace mg::pricing {
namespace {

// The keys of one API key's counters share a hash tag, so a Redis Cluster keeps them on one node.
struct KeyNames {
  explicit KeyNames(const std::string& key_id)
      : spend("mg:{" + key_id + "}:spend"), held("mg:{" + key_id + "}:held"), amounts("mg:{" + key_id + "}:held_usd"),
        requests("mg:{" + key_id + "}:requests"), tokens("mg:{" + key_id + "}:tokens"),
        request_slots("mg:{" + key_id + "}:request_slots"), request_total("mg:{" + key_id + "}:request_total") {}
  std::string spend;          // HASH day_start, day_usd, month_start, month_usd, total_usd
  std::string held;           // ZSET lease id -> expiry (Redis time, ms)
  std::string amounts;        // HASH lease id -> reserved USD
  std::string requests;       // ZSET lease id -> when its requests count (ms): the last minute's leases
  std::string tokens;         // HASH second -> tokens settled in it
  std::string request_slots;  // HASH lease id -> the request slots it counts for
  std::string request_total;  // STRING: the sum of request_slots, the window's requests
};

// Shared by the scripts: Redis's clock (one clock for the whole fleet), and the day and month windows
// rolled forward to the ones the replica's clock names.
constexpr const char* kPrelude = R"lua(
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local function roll(spend, day_start, month_start)
  if tonumber(day_start) > tonumber(redis.call('HGET', spend, 'day_start') or '0') then
    redis.call('HSET', spend, 'day_start', day_start, 'day_usd', '0')
  end
  if tonumber(month_start) > tonumber(redis.call('HGET', spend, 'month_start') or '0') then
    redis.call('HSET', spend, 'month_start', month_start, 'month_usd', '0')
  end
end
local function seed(spend, day_start, month_start, day, month, total)
  if redis.call('EXISTS', spend) == 0 then
    redis.call('HSET', spend, 'day_start', day_start, 'day_usd', day, 'month_start', month_start, 'month_usd', month, 'total_usd', total)
  end
end
)lua";

// KEYS: spend, held, amounts, requests, tokens, request_slots, request_total. ARGV: lease id, worst-case USD of one request, lease
// ms, requests per minute, tokens per minute, daily, monthly and total budgets ('' for none), day start,
// month start, the replica's known spend (day, month, total) to seed a key Redis has never seen, then
// the request slots and dollars wanted, and how long the replica may use them (ms).
// Grants up to a quarter of what the limits leave, at least one request: the dollars are reserved until settled,
// and the slots count in the rate window as if used at the end of their use, so that no 60 s of actual
// use holds more than the limit. A lease is one entry of the window, however many slots it holds.
// Returns {outcome, window, spent, limit, retry_after_s, slots, usd}.
constexpr const char* kAdmit = R"lua(
local spend, held, amounts, requests, tokens = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local request_slots, request_total = KEYS[6], KEYS[7]
-- Leases that left the window free their slots; in chunks, as unpack takes a few thousand values at most.
local function leave_window(gone)
  for first = 1, #gone, 1000 do
    local chunk = {unpack(gone, first, math.min(first + 999, #gone))}
    local freed = 0
    for _, slots in ipairs(redis.call('HMGET', request_slots, unpack(chunk))) do freed = freed + (tonumber(slots) or 0) end
    redis.call('HDEL', request_slots, unpack(chunk))
    redis.call('DECRBY', request_total, freed)
  end
end
local expired = redis.call('ZRANGEBYSCORE', held, '-inf', now)
if #expired > 0 then
  redis.call('HDEL', amounts, unpack(expired))
  redis.call('ZREMRANGEBYSCORE', held, '-inf', now)
end
seed(spend, ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13])
roll(spend, ARGV[9], ARGV[10])
local in_flight = redis.call('ZCARD', held)
local reserved = 0
for _, amount in ipairs(redis.call('HVALS', amounts)) do reserved = reserved + tonumber(amount) end
local worst, usd = tonumber(ARGV[2]), tonumber(ARGV[15])
local short = nil
local budgets = {{'daily', ARGV[6], 'day_usd'}, {'monthly', ARGV[7], 'month_usd'}, {'total', ARGV[8], 'total_usd'}}
for _, budget in ipairs(budgets) do
  if budget[2] ~= '' then
    local limit = tonumber(budget[2])
    local spent = tonumber(redis.call('HGET', spend, budget[3]) or '0')
    if spent >= limit then return {'budget_spent', budget[1], tostring(spent), tostring(limit), '0', '0', '0'} end
    local left = limit - spent - reserved
    if left < worst and not short then short = {budget[1], spent, limit} end
    -- a quarter of what is left at most: the other replicas keep room for their own requests
    usd = math.min(usd, math.max(worst, left / 4))
  end
end
if short then
  if in_flight > 0 then return {'budget_held', short[1], tostring(short[2]), tostring(short[3]), '1', '0', '0'} end
  usd = worst  -- the one request that may end past a budget: nothing else is in flight
end
local slots = tonumber(ARGV[14])
if ARGV[4] ~= '' then
  leave_window(redis.call('ZRANGEBYSCORE', requests, '-inf', now - 60000))
  redis.call('ZREMRANGEBYSCORE', requests, '-inf', now - 60000)
  local free = tonumber(ARGV[4]) - tonumber(redis.call('GET', request_total) or '0')
  if free < 1 then
    local oldest = redis.call('ZRANGE', requests, 0, 0, 'WITHSCORES')
    return {'requests_rate', '', '', '', tostring(math.max(1, math.ceil((tonumber(oldest[2]) + 60000 - now) / 1000))), '0', '0'}
  end
  slots = math.min(slots, math.max(1, math.floor(free / 4)))  -- as for budgets: room left for the other replicas
end
if ARGV[5] ~= '' then
  local second = math.floor(now / 1000)
  local counts = redis.call('HGETALL', tokens)
  local used, seconds = 0, {}
  for i = 1, #counts, 2 do
    local at = tonumber(counts[i])
    if at <= second - 60 then
      redis.call('HDEL', tokens, counts[i])
    else
      used = used + tonumber(counts[i + 1])
      table.insert(seconds, {at, tonumber(counts[i + 1])})
    end
  end
  local limit = tonumber(ARGV[5])
  if used >= limit then
    table.sort(seconds, function(a, b) return a[1] < b[1] end)
    local wait = 60
    for _, entry in ipairs(seconds) do
      used = used - entry[2]
      if used < limit then wait = entry[1] + 60 - second break end
    end
    return {'tokens_rate', '', '', '', tostring(math.max(1, wait)), '0', '0'}
  end
end
if ARGV[4] ~= '' then
  local counted_at = now + tonumber(ARGV[16])
  redis.call('ZADD', requests, counted_at, ARGV[1])
  redis.call('HSET', request_slots, ARGV[1], slots)
  redis.call('INCRBY', request_total, slots)
  for _, key in ipairs({requests, request_slots, request_total}) do redis.call('PEXPIRE', key, 61000 + tonumber(ARGV[16])) end
end
local lease = tonumber(ARGV[3])
redis.call('ZADD', held, now + lease, ARGV[1])
redis.call('HSET', amounts, ARGV[1], tostring(usd))
redis.call('PEXPIRE', held, lease + 1000)
redis.call('PEXPIRE', amounts, lease + 1000)
return {'admitted', '', '', '', '0', tostring(slots), tostring(usd)}
)lua";

// KEYS: spend, held, amounts, tokens, request_slots, request_total, and the settlement's marker (a
// settlement sent twice counts once). ARGV: lease id, cost USD, tokens, day start, month start, slots
// used (the lease's others leave the rate window), USD still reserved ('' for a final settlement: the
// reservation goes). A key whose spend Redis lost (restarted empty) is seeded again at its next admission.
constexpr const char* kSettle = R"lua(
local spend, held, amounts, request_slots, request_total = KEYS[1], KEYS[2], KEYS[3], KEYS[5], KEYS[6]
if not redis.call('SET', KEYS[7], '1', 'NX', 'PX', 3600000) then return 0 end
if ARGV[7] == '' then
  redis.call('ZREM', held, ARGV[1])
  redis.call('HDEL', amounts, ARGV[1])
elseif redis.call('ZSCORE', held, ARGV[1]) then  -- not after the final settlement, or the lease's expiry
  redis.call('HSET', amounts, ARGV[1], ARGV[7])
end
local unused = tonumber(redis.call('HGET', request_slots, ARGV[1]) or '0') - tonumber(ARGV[6])
if unused > 0 then
  redis.call('HINCRBY', request_slots, ARGV[1], -unused)
  redis.call('DECRBY', request_total, unused)
end
if redis.call('EXISTS', spend) == 1 then
  roll(spend, ARGV[4], ARGV[5])
  if tonumber(ARGV[2]) > 0 then
    redis.call('HINCRBYFLOAT', spend, 'day_usd', ARGV[2])
    redis.call('HINCRBYFLOAT', spend, 'month_usd', ARGV[2])
    redis.call('HINCRBYFLOAT', spend, 'total_usd', ARGV[2])
  end
end
if tonumber(ARGV[3]) > 0 then
  redis.call('HINCRBY', KEYS[4], tostring(math.floor(now / 1000)), ARGV[3])
  redis.call('PEXPIRE', KEYS[4], 61000)
end
return 1
)lua";

// KEYS: spend. ARGV: day start, month start, the ledger's day, month and total spend.
constexpr const char* kRaiseSpend = R"lua(
local spend = KEYS[1]
seed(spend, ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
roll(spend, ARGV[1], ARGV[2])
local fields = {{'day_usd', ARGV[3]}, {'month_usd', ARGV[4]}, {'total_usd', ARGV[5]}}
for _, field in ipairs(fields) do
  if tonumber(field[2]) > tonumber(redis.call('HGET', spend, field[1]) or '0') then redis.call('HSET', spend, field[1], field[2]) end
end
return 1
)lua";

std::string optional_number(const std::optional<double>& value) { return value ? redis_number(*value) : ""; }
std::string optional_number(const std::optional<std::int64_t>& value) { return value ? std::to_string(*value) : ""; }

SharedVerdict::Outcome outcome_named(const std::string& name) {
  using Outcome = SharedVerdict::Outcome;
  if (name == "admitted") return Outcome::admitted;
  if (name == "budget_spent") return Outcome::budget_spent;
  if (name == "budget_held") return Outcome::budget_held;
  if (name == "requests_rate") return Outcome::requests_rate;
  if (name == "tokens_rate") return Outcome::tokens_rate;
  return Outcome::unavailable;
}

SharedVerdict verdict_of(const RedisReply* reply, const std::string& error) {
  SharedVerdict verdict;
  if (!reply) {
    verdict.error = error;
    return verdict;
  }
  if (reply->type != RedisReply::Type::array || reply->elements.size() != 7) {
    verdict.error = reply->type == RedisReply::Type::error ? reply->text : "an unexpected answer from the shared state server";
    return verdict;
  }
  const auto& fields = reply->elements;
  verdict.outcome = outcome_named(fields[0].text);
  verdict.window = fields[1].text;
  verdict.spent_usd = fields[2].text.empty() ? 0 : std::strtod(fields[2].text.c_str(), nullptr);
  verdict.limit_usd = fields[3].text.empty() ? 0 : std::strtod(fields[3].text.c_str(), nullptr);
  verdict.retry_after_s = std::atoi(fields[4].text.c_str());
  verdict.granted_requests = std::atoll(fields[5].text.c_str());
  verdict.granted_usd = std::strtod(fields[6].text.c_str(), nullptr);
  return verdict;
}

std::string process_tag() {
  std::random_device random;
  char tag[48];
  std::snprintf(tag, sizeof tag, "%d-%08x", static_cast<int>(::getpid()), random());
  return tag;
}

const RedisScript& admit_script() {
  static const RedisScript script(std::string(kPrelude) + kAdmit);
  return script;
}
const RedisScript& settle_script() {
  static const RedisScript script(std::string(kPrelude) + kSettle);
  return script;
}
const RedisScript& raise_spend_script() {
  static const RedisScript script(std::string(kPrelude) + kRaiseSpend);
  return script;
}

RedisOptions with_scripts(RedisOptions options) {
  options.preload_scripts = {admit_script().text, settle_script().text, raise_spend_script().text};
  return options;
}

}  // namespace

SharedCounters::SharedCounters(RedisOptions options, std::chrono::milliseconds lease)
    : redis_(with_scripts(std::move(options))), lease_(lease), lease_prefix_(process_tag()) {}

void SharedCounters::admit(const SharedAdmission& request, std::function<void(SharedVerdict)> done) {
  KeyNames names(request.key_id);
  std::string lease_id = lease_prefix_ + "-" + std::to_string(next_lease_++);
  const KeyLimits& limits = request.limits;
  std::vector<std::string> arguments = {names.spend, names.held, names.amounts, names.requests, names.tokens, names.request_slots,
                                        names.request_total,
                                        lease_id, redis_number(request.worst_case_cost_usd), std::to_string(lease_.count()),
                                        optional_number(limits.requests_per_minute), optional_number(limits.tokens_per_minute),
                                        optional_number(limits.budget_usd_day), optional_number(limits.budget_usd_month),
                                        optional_number(limits.budget_usd_total), std::to_string(utc_day_start_ms(request.now_ms)),
                                        std::to_string(utc_month_start_ms(request.now_ms)), redis_number(request.ledger_spend.day_usd),
                                        redis_number(request.ledger_spend.month_usd), redis_number(request.ledger_spend.total_usd),
                                        std::to_string(std::max<std::int64_t>(1, request.requests_wanted)),
                                        redis_number(std::max(request.usd_wanted, request.worst_case_cost_usd)), std::to_string(request.use_for.count())};
  run_script(redis_, admit_script(), std::move(arguments), 7,
             [lease_id, done = std::move(done)](const RedisReply* reply, const std::string& error) {
               SharedVerdict verdict = verdict_of(reply, error);
               verdict.lease_id = lease_id;
               done(std::move(verdict));
             });
}

void SharedCounters::settle(const SharedSettlement& settlement) { send(settlement, std::chrono::steady_clock::now()); }

void SharedCounters::send(SharedSettlement settlement, std::chrono::steady_clock::time_point first_sent) {
  KeyNames names(settlement.key_id);
  const std::string marker = "mg:{" + settlement.key_id + "}:settled:" + settlement.lease_id + (settlement.keep_reserved_usd ? ":retired" : ":final");
  std::vector<std::string> arguments = {names.spend, names.held, names.amounts, names.tokens, names.request_slots, names.request_total, marker,
                                        settlement.lease_id, redis_number(settlement.cost_usd), std::to_string(settlement.tokens),
                                        std::to_string(utc_day_start_ms(settlement.now_ms)), std::to_string(utc_month_start_ms(settlement.now_ms)),
                                        std::to_string(settlement.slots_used),
                                        settlement.keep_reserved_usd ? redis_number(*settlement.keep_reserved_usd) : ""};
  run_script(redis_, settle_script(), std::move(arguments), 7,
             [unsent = unsent_, lost = lost_, settlement = std::move(settlement), first_sent](const RedisReply* reply, const std::string&) {
               if (reply) return;  // taken (an error reply would only come again)
               std::lock_guard lock(unsent->mutex);
               if (unsent->settlements.size() >= kMaxUnsent || std::chrono::steady_clock::now() - first_sent > kGiveUpAfter) {
                 lost->fetch_add(1);
                 return;
               }
               unsent->settlements.emplace_back(settlement, first_sent);
             });
}

void SharedCounters::retry_unsent() {
  std::deque<std::pair<SharedSettlement, std::chrono::steady_clock::time_point>> again;
  {
    std::lock_guard lock(unsent_->mutex);
    again.swap(unsent_->settlements);
  }
  for (auto& [settlement, first_sent] : again) send(std::move(settlement), first_sent);
}

std::int64_t SharedCounters::settlements_unsent() const {
  std::lock_guard lock(unsent_->mutex);
  return static_cast<std::int64_t>(unsent_->settlements.size());
}

void SharedCounters::raise_spend(const std::string& key_id, const KeySpend& ledger_spend, std::int64_t now_ms) {
  run_script(redis_, raise_spend_script(),
             {KeyNames(key_id).spend, std::to_string(utc_day_start_ms(now_ms)), std::to_string(utc_month_start_ms(now_ms)),
              redis_number(ledger_spend.day_usd), redis_number(ledger_spend.month_usd), redis_number(ledger_spend.total_usd)},
             1, [](const RedisReply*, const std::string&) {});
}

}  // namespace mg::pricing
