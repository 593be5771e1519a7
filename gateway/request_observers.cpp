#include "gateway/request_observers.h"

#include "gateway/exchange_accounting.h"

namespace mg::gateway {

void RequestObservers::conclude(pricing::LedgerRecord row, const RequestFacts& facts) const {
  if (metrics) metrics->observe(row, facts);
  if (access_log) access_log->record(row, facts);
  if (traffic) traffic->record(row, unix_now_ms());
  if (recorder) recorder->record(std::move(row));  // last: it may wait when the ledger's queue is full
}

}  // namespace mg::gateway
