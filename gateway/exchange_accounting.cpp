#include "gateway/exchange_accounting.h"

#include <random>

#include <nlohmann/json.hpp>

#include "gateway/http_exchange.h"
#include "core/json_text.h"

namespace mg::gateway {
namespace {

double milliseconds_between(SteadyTime from, SteadyTime to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

}  // namespace

pricing::CallSample sample_for(const AttemptRecord& attempt, SteadyTime finished) {
  pricing::CallSample sample;
  if (attempt.error) {
    sample.success = false;
    sample.counts_for_uptime = !says_nothing_about_the_route(attempt.error->failure);
    return sample;
  }
  if (attempt.first_event) sample.ttft_ms = milliseconds_between(attempt.started, *attempt.first_event);
  double seconds = milliseconds_between(attempt.started, finished) / 1000.0;
  if (attempt.usage && seconds > 0) sample.throughput_tok_s = static_cast<double>(attempt.usage->completion_tokens) / seconds;
  return sample;
}

UsageReport billed_usage(const AttemptRecord& attempt, std::int64_t estimated_prompt_tokens) {
  if (attempt.usage) return *attempt.usage;
  if (attempt.content_events == 0) return {};
  return UsageReport{estimated_prompt_tokens, attempt.content_events, 0};
}

namespace {

// Through a DOM: for text that is not UTF-8, which the DOM's dump repairs.
std::string routes_tried_through_dom(const std::vector<AttemptRecord>& attempts) {
  nlohmann::json out = nlohmann::json::array();
  for (const AttemptRecord& attempt : attempts) {
    nlohmann::json entry = {{"route", attempt.route}, {"outcome", attempt.error ? to_string(attempt.error->failure) : "ok"}};
    if (attempt.error) entry["message"] = attempt.error->message;
    if (attempt.content_events > 0) entry["streamed"] = attempt.content_events;
    out.push_back(std::move(entry));
  }
  return to_json_text(out);
}

// One attempt's object, keys in the order the DOM writes them (sorted); false for text not UTF-8.
bool append_attempt(std::string& out, const AttemptRecord& attempt) {
  out += '{';
  if (attempt.error) {
    out += "\"message\":";
    if (!append_json_string(out, attempt.error->message)) return false;
    out += ',';
  }
  out += "\"outcome\":";
  append_json_string(out, attempt.error ? to_string(attempt.error->failure) : "ok");
  out += ",\"route\":";
  if (!append_json_string(out, attempt.route)) return false;
  if (attempt.content_events > 0) out += ",\"streamed\":" + std::to_string(attempt.content_events);
  out += '}';
  return true;
}

}  // namespace

// Written for every request, so directly; the same bytes as through the DOM (the tests' oracle).
std::string routes_tried_json(const std::vector<AttemptRecord>& attempts) {
  std::string out = "[";
  for (const AttemptRecord& attempt : attempts) {
    if (out.size() > 1) out += ',';
    if (!append_attempt(out, attempt)) return routes_tried_through_dom(attempts);
  }
  out += ']';
  return out;
}

pricing::LedgerRecord ledger_record_for(const ExchangeOutcome& outcome) {
  pricing::LedgerRecord row;
  row.request_id = outcome.request_id;
  row.created_at_ms = outcome.arrival_unix_ms;
  row.requested_model = outcome.request->model.empty() && !outcome.request->fallback_models.empty()
                            ? outcome.request->fallback_models.front() : outcome.request->model;
  row.route = outcome.answering_route;
  if (outcome.usage) {
    row.prompt_tokens = outcome.usage->prompt_tokens;
    row.completion_tokens = outcome.usage->completion_tokens;
  }
  row.cost_usd = outcome.cost_usd;
  if (outcome.first_byte_to_client) row.ttft_ms = milliseconds_between(outcome.arrival, *outcome.first_byte_to_client);
  row.duration_ms = milliseconds_between(outcome.arrival, outcome.finished);
  row.status = outcome.status;
  row.error_code = outcome.error_code;
  row.routes_tried_json = routes_tried_json(*outcome.attempts);
  row.stream = outcome.request->stream;
  return row;
}

RequestFacts request_facts(const std::vector<AttemptRecord>& attempts, SteadyTime arrival) {
  RequestFacts facts;
  for (std::size_t i = 0; i < attempts.size(); ++i) {
    const AttemptRecord& attempt = attempts[i];
    facts.attempts.emplace_back(attempt.route, attempt.error ? to_string(attempt.error->failure) : "ok");
    if (i == 0) continue;
    if (attempt.route == attempts[i - 1].route) ++facts.retries;
    else ++facts.fallbacks;
  }
  if (!attempts.empty()) facts.gateway_added_ms = milliseconds_between(arrival, attempts.front().started);
  return facts;
}

std::string ledger_error_code(const Error& error) { return error.code.empty() ? to_string(error.failure) : error.code; }

std::string random_hex(std::size_t length) {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(length, '0');
  std::uint64_t bits = 0;
  for (std::size_t i = 0; i < length; ++i, bits >>= 4) {
    if (i % 16 == 0) bits = engine();  // one draw gives sixteen digits
    out[i] = kDigits[bits & 15];
  }
  return out;
}

std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace mg::gateway
