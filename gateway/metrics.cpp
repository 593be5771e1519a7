#include "gateway/metrics.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace mg::gateway {
namespace {

std::string route_label(const std::string& route) { return prometheus_label("route", route.empty() ? "none" : route); }

std::string key_label(const std::string& key_id) { return prometheus_label("key", key_id.empty() ? "none" : key_id); }

template <class Value>
void render_family(MetricsText& text, const std::string& name, const char* type, const char* help, const std::map<std::string, Value>& samples) {
  text.family(name, type, help);
  for (const auto& [labels, value] : samples) text.sample(name, labels, static_cast<double>(value));
}

void render_histograms(std::string& out, const std::string& name, const char* help, const std::map<std::string, LatencyHistogram>& histograms) {
  MetricsText(out).family(name, "histogram", help);
  for (const auto& [labels, histogram] : histograms) histogram.render(out, name, labels);
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
  const std::string route = route_label(row.route);
  const std::string route_and_key = route + "," + key_label(row.api_key_id);
  std::lock_guard lock(mutex_);
  ++requests_[route + "," + prometheus_label("status", std::to_string(row.status))];
  for (const auto& [attempt_route, outcome] : facts.attempts) {
    ++attempts_[route_label(attempt_route) + "," + prometheus_label("outcome", outcome)];
  }
  prompt_tokens_[route_and_key] += static_cast<std::uint64_t>(std::max<std::int64_t>(0, row.prompt_tokens));
  completion_tokens_[route_and_key] += static_cast<std::uint64_t>(std::max<std::int64_t>(0, row.completion_tokens));
  cost_usd_[route_and_key] += row.cost_usd;
  duration_[route].observe(row.duration_ms / 1000.0);
  if (row.ttft_ms) ttft_[route].observe(*row.ttft_ms / 1000.0);
  if (facts.gateway_added_ms) gateway_added_.observe(*facts.gateway_added_ms / 1000.0);
  retries_ += static_cast<std::uint64_t>(facts.retries);
  fallbacks_ += static_cast<std::uint64_t>(facts.fallbacks);
}

void RequestMetrics::render(std::string& out) const {
  std::lock_guard lock(mutex_);
  MetricsText text(out);
  render_family(text, "modelgate_requests_total", "counter",
                "Completion requests, by the route that answered ('none' when none did) and the HTTP status the client got.", requests_);
  render_family(text, "modelgate_attempts_total", "counter", "Calls to routes, by route and outcome ('ok' or the failure class).",
                attempts_);
  render_family(text, "modelgate_prompt_tokens_total", "counter", "Prompt tokens billed, by route and API key id.", prompt_tokens_);
  render_family(text, "modelgate_completion_tokens_total", "counter", "Completion tokens billed, by route and API key id.",
                completion_tokens_);
  render_family(text, "modelgate_cost_usd_total", "counter", "Cost in US dollars, by route and API key id.", cost_usd_);
  text.family("modelgate_retries_total", "counter", "Attempts that retried a route already tried for the same request.")
      .sample("modelgate_retries_total", "", static_cast<double>(retries_));
  text.family("modelgate_fallbacks_total", "counter", "Moves from a failed route to the next one in a request's chain.")
      .sample("modelgate_fallbacks_total", "", static_cast<double>(fallbacks_));
  render_histograms(out, "modelgate_request_duration_seconds", "From the request's arrival to its last byte, by answering route.", duration_);
  render_histograms(out, "modelgate_ttft_seconds", "From the request's arrival to the first token sent to the client, by answering route.",
                    ttft_);
  MetricsText(out).family("modelgate_gateway_added_seconds", "histogram",
                          "Time the gateway spent on a request before its first upstream call (reading, validation, keys, routing).");
  gateway_added_.render(out, "modelgate_gateway_added_seconds", "");
}

}  // namespace mg::gateway
