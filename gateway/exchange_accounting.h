// What one exchange leaves behind: a live-statistics sample per attempt and exactly one ledger row per
// request. Pure functions over what the exchange observed, so the rules are testable on their own.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "pricing/ledger.h"
#include "pricing/live_stats.h"
#include "core/chat_event.h"
#include "core/chat_request.h"

namespace mg::gateway {

using SteadyTime = std::chrono::steady_clock::time_point;

struct AttemptRecord {
  std::string route;
  SteadyTime started;
  std::optional<SteadyTime> first_event;
  std::optional<UsageReport> usage;
  std::optional<Error> error;  // unset while running and on success
  int content_events = 0;      // text and tool-call deltas this attempt streamed to the client
};

// What an attempt that streamed part of an answer cost: its reported usage, or when the stream broke
// before the usage came, an estimate (a token per streamed delta, the estimated prompt). Nothing for an
// attempt that streamed nothing.
UsageReport billed_usage(const AttemptRecord& attempt, std::int64_t estimated_prompt_tokens);

// The sample an attempt contributes to its route: TTFT from the attempt's start, throughput end to end
// (completion tokens over the whole attempt, TTFT included). 429s, the caller's own faults and
// cancellations say nothing about the route's health and are not counted.
pricing::CallSample sample_for(const AttemptRecord& attempt, SteadyTime finished);

struct ExchangeOutcome {
  const ChatRequest* request = nullptr;
  std::string request_id;
  std::int64_t arrival_unix_ms = 0;
  SteadyTime arrival;
  SteadyTime finished;
  std::optional<SteadyTime> first_byte_to_client;
  const std::vector<AttemptRecord>* attempts = nullptr;
  std::string answering_route;      // '' when no route answered
  std::optional<UsageReport> usage;  // of the answering attempt
  double cost_usd = 0;
  int status = 200;                  // what the client got
  std::string error_code;            // '' on success
};

pricing::LedgerRecord ledger_record_for(const ExchangeOutcome& outcome);

// What one concluded request tells the metrics and the access log beyond its ledger row.
struct RequestFacts {
  int retries = 0;    // attempts on the route the previous attempt used
  int fallbacks = 0;  // moves from one route to another
  std::vector<std::pair<std::string, std::string>> attempts;  // (route, outcome: "ok" or the failure class)
  std::optional<double> gateway_added_ms;                     // from the request's arrival to its first upstream call
};

RequestFacts request_facts(const std::vector<AttemptRecord>& attempts, SteadyTime arrival);

// The `routes_tried` column: [{"route", "outcome", "message", "streamed"}...]; "streamed" counts the
// deltas a route contributed to the answer (a resumed stream has more than one such route).
std::string routes_tried_json(const std::vector<AttemptRecord>& attempts);

std::int64_t unix_now_ms();

// `length` random lowercase hex digits, for request and completion ids.
std::string random_hex(std::size_t length);

// The ledger's error_code for a failed request: the error's code, or its failure class when it has none.
std::string ledger_error_code(const Error& error);

}  // namespace mg::gateway
