// Where a concluded request's facts go: its ledger row, the metrics, the access log and the dashboard's
// recent history. One call, made once per completion request, whether it was answered or refused.
#pragma once

#include "gateway/access_log.h"
#include "gateway/metrics.h"
#include "gateway/traffic_series.h"
#include "pricing/usage_recorder.h"

namespace mg::gateway {

struct RequestObservers {
  pricing::UsageRecorder* recorder = nullptr;  // each may be null (tests of the pieces, the access log off)
  RequestMetrics* metrics = nullptr;
  AccessLog* access_log = nullptr;
  TrafficSeries* traffic = nullptr;

  void conclude(pricing::LedgerRecord row, const RequestFacts& facts) const;
};

}  // namespace mg::gateway
