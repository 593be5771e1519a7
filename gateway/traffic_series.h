// The dashboard's recent history: requests, errors, latency percentiles, tokens and spend by model and
// by key, in buckets of a few seconds over the last few minutes. In memory only; the ledger keeps the rest.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pricing/ledger.h"

namespace mg::gateway {

class TrafficSeries {
 public:
  explicit TrafficSeries(std::int64_t bucket_ms = 5'000, std::size_t bucket_count = 60);

  void record(const pricing::LedgerRecord& row, std::int64_t now_ms);
  // {"bucket_ms", "buckets": [...]}: the last bucket_count buckets up to `now_ms`, oldest first, empty ones included.
  nlohmann::json to_json(std::int64_t now_ms) const;
  // {"requests", "failed", "prompt_tokens", "completion_tokens", "cost_usd"} since start.
  nlohmann::json totals_json() const;

 private:
  struct Spend {
    std::int64_t requests = 0;
    double cost_usd = 0;
  };
  struct Bucket {
    std::int64_t start_ms = -1;
    std::int64_t requests = 0;
    std::int64_t errors = 0;
    std::int64_t prompt_tokens = 0;
    std::int64_t completion_tokens = 0;
    double cost_usd = 0;
    std::vector<double> latency_ms;  // at most kMaxSamples, for the percentiles
    std::vector<double> ttft_ms;
    std::map<std::string, Spend> by_model;
    std::map<std::string, Spend> by_key;
  };
  static constexpr std::size_t kMaxSamples = 512;

  Bucket& bucket_at(std::int64_t start_ms);

  std::int64_t bucket_ms_;
  mutable std::mutex mutex_;
  std::vector<Bucket> ring_;  // [bucket_count], indexed by (start_ms / bucket_ms) % bucket_count
  Bucket totals_;             // since start; its samples and maps stay empty
};

}  // namespace mg::gateway
