#include "pricing/fleet_route_stats.h"

#include <cstdlib>

#include "pricing/redis_script.h"

namespace mg::pricing {
namespace {

// The figures of one route, as fields of a bucket's hash: "<route>\x1f<figure>". Route names never hold
// the unit separator.
constexpr char kSeparator = '\x1f';

// No KEYS: bucket names follow Redis's clock, so they are made here (all under one hash tag, one node
// of a Redis Cluster). ARGV: bucket ms, buckets in the window, then per route: its name and the six
// figures above. Returns the window's sums as {field, value, field, value, ...}.
constexpr const char* kExchange = R"lua(
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local bucket_ms, buckets = tonumber(ARGV[1]), tonumber(ARGV[2])
local current = math.floor(now / bucket_ms)
local figures = {'calls', 'failures', 'ttft_ms_sum', 'ttft_samples', 'throughput_sum', 'throughput_samples'}
local key = 'mg:{route-stats}:' .. current
for i = 3, #ARGV, 7 do
  for f = 1, 6 do
    if tonumber(ARGV[i + f]) ~= 0 then redis.call('HINCRBYFLOAT', key, ARGV[i] .. '\31' .. figures[f], ARGV[i + f]) end
  end
end
if #ARGV > 2 then redis.call('PEXPIRE', key, bucket_ms * (buckets + 1)) end
local sums, order = {}, {}
for b = current - buckets + 1, current do
  local fields = redis.call('HGETALL', 'mg:{route-stats}:' .. b)
  for i = 1, #fields, 2 do
    if sums[fields[i]] == nil then
      sums[fields[i]] = 0
      order[#order + 1] = fields[i]
    end
    sums[fields[i]] = sums[fields[i]] + tonumber(fields[i + 1])
  end
end
local out = {}
for _, field in ipairs(order) do
  out[#out + 1] = field
  out[#out + 1] = string.format('%.17g', sums[field])
end
return out
)lua";

const RedisScript& exchange_script() {
  static const RedisScript script(kExchange);
  return script;
}

RedisOptions with_script(RedisOptions options) {
  options.preload_scripts = {exchange_script().text};
  return options;
}

void add_figure(RouteTotals& totals, const std::string& figure, double value) {
  const auto count = static_cast<std::int64_t>(value);
  if (figure == "calls") totals.calls += count;
  else if (figure == "failures") totals.failures += count;
  else if (figure == "ttft_ms_sum") totals.ttft_ms_sum += value;
  else if (figure == "ttft_samples") totals.ttft_samples += count;
  else if (figure == "throughput_sum") totals.throughput_tok_s_sum += value;
  else if (figure == "throughput_samples") totals.throughput_samples += count;
}

std::optional<RouteTotalsByRoute> totals_of(const RedisReply* reply) {
  if (!reply || reply->type != RedisReply::Type::array || reply->elements.size() % 2 != 0) return std::nullopt;
  RouteTotalsByRoute totals;
  for (std::size_t i = 0; i < reply->elements.size(); i += 2) {
    const std::string& field = reply->elements[i].text;
    const std::size_t separator = field.rfind(kSeparator);
    if (separator == std::string::npos) continue;
    add_figure(totals[field.substr(0, separator)], field.substr(separator + 1), std::strtod(reply->elements[i + 1].text.c_str(), nullptr));
  }
  return totals;
}

}  // namespace

FleetRouteStats::FleetRouteStats(RedisOptions options) : redis_(with_script(std::move(options))) {}

void FleetRouteStats::exchange(const std::vector<std::pair<std::string, RouteTotals>>& mine,
                               std::function<void(std::optional<RouteTotalsByRoute>)> done) {
  std::vector<std::string> arguments = {std::to_string(std::chrono::milliseconds(kBucket).count()), std::to_string(kBuckets)};
  for (const auto& [route, totals] : mine) {
    if (route.find(kSeparator) != std::string::npos) continue;
    arguments.insert(arguments.end(), {route, std::to_string(totals.calls), std::to_string(totals.failures), redis_number(totals.ttft_ms_sum),
                                       std::to_string(totals.ttft_samples), redis_number(totals.throughput_tok_s_sum),
                                       std::to_string(totals.throughput_samples)});
  }
  run_script(redis_, exchange_script(), std::move(arguments), 0,
             [done = std::move(done)](const RedisReply* reply, const std::string&) { done(totals_of(reply)); });
}

}  // namespace mg::pricing
