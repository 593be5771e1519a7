#include "gateway/metrics.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace mg::gateway {
namespace {

// The map's entry for `name`, made on first use: the name is copied only then.
template <class Value>
Value& entry(std::map<std::string, Value, std::less<>>& map, std::string_view name) {
  auto it = map.find(name);
  if (it == map.end()) it = map.emplace(std::string(name), Value{}).first;
  return it->second;
}

std::string_view route_or_none(const std::string& route) { return route.empty() ? std::string_view("none") : std::string_view(route); }

// One family's samples, one for each (route, second label) pair that `each` reports.
template <class Visit>
void render_counters(MetricsText& text, const std::string& name, const char* help, Visit&& each) {
  text.family(name, "counter", help);
  each([&](const std::string& route, const char* label, const std::string& value, double sample) {
    text.sample(name, prometheus_label("route", route) + "," + prometheus_label(label, value), sample);
  });
}

}  // namespace

std::string prometheus_label(const char* name, const std::string& value) {
  std::string out = std::string(name) + "=\"";
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string format_metric_value(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  char text[32];
  auto [end, ec] = std::to_chars(text, text + sizeof text, value);  // the shortest text that reads back exactly
  return std::string(text, end);
}

MetricsText& MetricsText::family(const std::string& name, const char* type, const char* help) {
  out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  return *this;
}

MetricsText& MetricsText::sample(const std::string& name, const std::string& labels, double value) {
  out_ += name;
  if (!labels.empty()) out_ += "{" + labels + "}";
  out_ += " " + format_metric_value(value) + "\n";
  return *this;
}

void LatencyHistogram::observe(double seconds) {
  for (std::size_t i = 0; i < kBoundsSeconds.size(); ++i) {
    if (seconds <= kBoundsSeconds[i]) {
      ++counts_[i];
      break;
    }
  }
  ++count_;
  sum_seconds_ += seconds;
}

void LatencyHistogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  MetricsText text(out);
  const std::string prefix = labels.empty() ? "" : labels + ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBoundsSeconds.size(); ++i) {
    cumulative += counts_[i];
    char bound[16];
    std::snprintf(bound, sizeof bound, "%g", kBoundsSeconds[i]);  // "0.0005", as people write them
    text.sample(name + "_bucket", prefix + prometheus_label("le", bound), static_cast<double>(cumulative));
  }
  text.sample(name + "_bucket", prefix + "le=\"+Inf\"", static_cast<double>(count_));
  text.sample(name + "_sum", labels, sum_seconds_);
  text.sample(name + "_count", labels, static_cast<double>(count_));
}

void RequestMetrics::observe(const pricing::LedgerRecord& row, const RequestFacts& facts) {
  std::lock_guard lock(mutex_);
  RouteTotals& route = entry(routes_, route_or_none(row.route));
  ++route.requests_by_status[row.status];
  KeyTotals& key = entry(route.by_key, row.api_key_id.empty() ? "none" : std::string_view(row.api_key_id));
  key.prompt_tokens += static_cast<std::uint64_t>(std::max<std::int64_t>(0, row.prompt_tokens));
  key.completion_tokens += static_cast<std::uint64_t>(std::max<std::int64_t>(0, row.completion_tokens));
  key.cost_usd += row.cost_usd;
  route.duration.observe(row.duration_ms / 1000.0);
  if (row.ttft_ms) {
    if (!route.ttft) route.ttft.emplace();
    route.ttft->observe(*row.ttft_ms / 1000.0);
  }
  for (const auto& [attempt_route, outcome] : facts.attempts) ++entry(entry(attempts_, route_or_none(attempt_route)), outcome);
  if (facts.gateway_added_ms) gateway_added_.observe(*facts.gateway_added_ms / 1000.0);
  retries_ += static_cast<std::uint64_t>(facts.retries);
  fallbacks_ += static_cast<std::uint64_t>(facts.fallbacks);
}

void RequestMetrics::render(std::string& out) const {
  std::lock_guard lock(mutex_);
  MetricsText text(out);
  render_counters(text, "modelgate_requests_total",
                  "Completion requests, by the route that answered ('none' when none did) and the HTTP status the client got.",
                  [&](auto&& sample) {
                    for (const auto& [route, totals] : routes_) {
                      for (const auto& [status, count] : totals.requests_by_status) sample(route, "status", std::to_string(status), count);
                    }
                  });
  render_counters(text, "modelgate_attempts_total", "Calls to routes, by route and outcome ('ok' or the failure class).", [&](auto&& sample) {
    for (const auto& [route, outcomes] : attempts_) {
      for (const auto& [outcome, count] : outcomes) sample(route, "outcome", outcome, count);
    }
  });
  auto per_key = [&](auto field) {
    return [&, field](auto&& sample) {
      for (const auto& [route, totals] : routes_) {
        for (const auto& [key, key_totals] : totals.by_key) sample(route, "key", key, static_cast<double>(key_totals.*field));
      }
    };
  };
  render_counters(text, "modelgate_prompt_tokens_total", "Prompt tokens billed, by route and API key id.", per_key(&KeyTotals::prompt_tokens));
  render_counters(text, "modelgate_completion_tokens_total", "Completion tokens billed, by route and API key id.",
                  per_key(&KeyTotals::completion_tokens));
  render_counters(text, "modelgate_cost_usd_total", "Cost in US dollars, by route and API key id.", per_key(&KeyTotals::cost_usd));
  text.family("modelgate_retries_total", "counter", "Attempts that retried a route already tried for the same request.")
      .sample("modelgate_retries_total", "", static_cast<double>(retries_));
  text.family("modelgate_fallbacks_total", "counter", "Moves from a failed route to the next one in a request's chain.")
      .sample("modelgate_fallbacks_total", "", static_cast<double>(fallbacks_));
  auto per_route_histograms = [&](const std::string& name, const char* help, auto histogram_of) {
    text.family(name, "histogram", help);
    for (const auto& [route, totals] : routes_) {
      if (const LatencyHistogram* histogram = histogram_of(totals)) histogram->render(out, name, prometheus_label("route", route));
    }
  };
  per_route_histograms("modelgate_request_duration_seconds", "From the request's arrival to its last byte, by answering route.",
                       [](const RouteTotals& totals) { return &totals.duration; });
  per_route_histograms("modelgate_ttft_seconds", "From the request's arrival to the first token sent to the client, by answering route.",
                       [](const RouteTotals& totals) { return totals.ttft ? &*totals.ttft : nullptr; });
  MetricsText(out).family("modelgate_gateway_added_seconds", "histogram",
                          "Time the gateway spent on a request before its first upstream call (reading, validation, keys, routing).");
  gateway_added_.render(out, "modelgate_gateway_added_seconds", "");
}

}  // namespace mg::gateway
