#include "gateway/traffic_series.h"

#include <algorithm>

namespace mg::gateway {
namespace {

nlohmann::json percentile_ms(std::vector<double> samples, double fraction) {
  if (samples.empty()) return nullptr;
  std::size_t index = std::min(samples.size() - 1, static_cast<std::size_t>(fraction * static_cast<double>(samples.size())));
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(index), samples.end());
  return samples[index];
}

void keep_sample(std::vector<double>& samples, double value, std::size_t limit) {
  if (samples.size() < limit) samples.push_back(value);
}

}  // namespace

TrafficSeries::TrafficSeries(std::int64_t bucket_ms, std::size_t bucket_count) : bucket_ms_(bucket_ms), ring_(bucket_count) {}

TrafficSeries::Bucket& TrafficSeries::bucket_at(std::int64_t start_ms) {
  Bucket& bucket = ring_[static_cast<std::size_t>(start_ms / bucket_ms_) % ring_.size()];
  if (bucket.start_ms != start_ms) {
    bucket = Bucket{};
    bucket.start_ms = start_ms;
  }
  return bucket;
}

void TrafficSeries::record(const pricing::LedgerRecord& row, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  Bucket& bucket = bucket_at(now_ms - now_ms % bucket_ms_);
  for (Bucket* counts : {&bucket, &totals_}) {
    ++counts->requests;
    if (row.status >= 400 || !row.error_code.empty()) ++counts->errors;
    counts->prompt_tokens += row.prompt_tokens;
    counts->completion_tokens += row.completion_tokens;
    counts->cost_usd += row.cost_usd;
  }
  keep_sample(bucket.latency_ms, row.duration_ms, kMaxSamples);
  if (row.ttft_ms) keep_sample(bucket.ttft_ms, *row.ttft_ms, kMaxSamples);
  for (auto* spend : {&bucket.by_model[row.requested_model], &bucket.by_key[row.api_key_id]}) {
    ++spend->requests;
    spend->cost_usd += row.cost_usd;
  }
}

nlohmann::json TrafficSeries::totals_json() const {
  std::lock_guard lock(mutex_);
  return {{"requests", totals_.requests},          {"failed", totals_.errors},
          {"prompt_tokens", totals_.prompt_tokens}, {"completion_tokens", totals_.completion_tokens},
          {"cost_usd", totals_.cost_usd}};
}

nlohmann::json TrafficSeries::to_json(std::int64_t now_ms) const {
  auto spend_json = [](const std::map<std::string, Spend>& spend) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [name, figures] : spend) out[name] = {{"requests", figures.requests}, {"cost_usd", figures.cost_usd}};
    return out;
  };
  std::lock_guard lock(mutex_);
  nlohmann::json buckets = nlohmann::json::array();
  const std::int64_t newest = now_ms - now_ms % bucket_ms_;
  for (std::int64_t i = static_cast<std::int64_t>(ring_.size()) - 1; i >= 0; --i) {
    const std::int64_t start = newest - i * bucket_ms_;
    const Bucket& stored = ring_[static_cast<std::size_t>(start / bucket_ms_) % ring_.size()];
    const Bucket empty;
    const Bucket& bucket = stored.start_ms == start ? stored : empty;
    buckets.push_back({{"start_ms", start},
                       {"requests", bucket.requests},
                       {"errors", bucket.errors},
                       {"latency_p50_ms", percentile_ms(bucket.latency_ms, 0.5)},
                       {"latency_p95_ms", percentile_ms(bucket.latency_ms, 0.95)},
                       {"ttft_p50_ms", percentile_ms(bucket.ttft_ms, 0.5)},
                       {"prompt_tokens", bucket.prompt_tokens},
                       {"completion_tokens", bucket.completion_tokens},
                       {"cost_usd", bucket.cost_usd},
                       {"by_model", spend_json(bucket.by_model)},
                       {"by_key", spend_json(bucket.by_key)}});
  }
  return {{"bucket_ms", bucket_ms_}, {"buckets", std::move(buckets)}};
}

}  // namespace mg::gateway
