// What the operator watches: GET /metrics (Prometheus text) and the dashboard (GET /dashboard, its page;
// GET /dashboard/data, the JSON it refreshes from).
#include "gateway/api.h"
#include "gateway/exchange_accounting.h"

namespace mg::gateway {
namespace {

void render_state_gauges(MetricsText& text, const GatewayState& state) {
  text.family("modelgate_open_connections", "gauge", "Client connections open now.")
      .sample("modelgate_open_connections", "", static_cast<double>(state.open_connections.load()));
  text.family("modelgate_requests_in_flight", "gauge", "Requests read and not yet fully answered.")
      .sample("modelgate_requests_in_flight", "", static_cast<double>(state.requests_in_flight.load()));
  text.family("modelgate_http_requests_total", "counter", "HTTP requests read, every endpoint.")
      .sample("modelgate_http_requests_total", "", static_cast<double>(state.requests_total.load()));
  text.family("modelgate_cancelled_total", "counter", "Generations stopped because the client went away.")
      .sample("modelgate_cancelled_total", "", static_cast<double>(state.cancelled_total.load()));
  text.family("modelgate_rejected_connections_total", "counter", "Connections answered 503 at accept: over http.max_connections.")
      .sample("modelgate_rejected_connections_total", "", static_cast<double>(state.rejected_connections.load()));
  text.family("modelgate_shed_requests_total", "counter",
              "Requests answered 503 after their headers: over http.max_requests_in_flight or http.max_buffered_body_bytes.")
      .sample("modelgate_shed_requests_total", "", static_cast<double>(state.shed_requests.load()));
  text.family("modelgate_buffered_body_bytes", "gauge", "Request body bytes reserved by requests being read or answered.")
      .sample("modelgate_buffered_body_bytes", "", static_cast<double>(state.buffered_body_bytes.load()));
}

void render_ledger(MetricsText& text, const pricing::RecorderHealth& ledger) {
  text.family("modelgate_ledger_rows_pending", "gauge", "Ledger rows held in memory, not yet written.")
      .sample("modelgate_ledger_rows_pending", "", static_cast<double>(ledger.pending_rows));
  text.family("modelgate_ledger_write_failing", "gauge", "1 while the database refuses ledger writes (locked, full, damaged).")
      .sample("modelgate_ledger_write_failing", "", ledger.failing ? 1 : 0);
  text.family("modelgate_ledger_rows_spilled_total", "counter", "Ledger rows put in the spill file while the database refused them.")
      .sample("modelgate_ledger_rows_spilled_total", "", static_cast<double>(ledger.rows_spilled));
  text.family("modelgate_ledger_rows_lost_total", "counter", "Ledger rows neither the database nor the spill file took (each logged in full).")
      .sample("modelgate_ledger_rows_lost_total", "", static_cast<double>(ledger.rows_lost));
  text.family("modelgate_ledger_journal_failures_total", "counter",
              "Ledger rows the crash journal could not take (each logged, rate-limited): lost should the gateway die before writing them.")
      .sample("modelgate_ledger_journal_failures_total", "", static_cast<double>(ledger.journal_failures));
}

double circuit_state_value(const std::string& state) { return state == "closed" ? 0 : state == "half_open" ? 1 : 2; }

// Circuits and measured figures of every route, read from the routing state now.
void render_route_gauges(MetricsText& text, const nlohmann::json& routes) {
  text.family("modelgate_circuit_state", "gauge", "Each route's circuit breaker: 0 closed, 1 half-open, 2 open.");
  for (const auto& route : routes) {
    text.sample("modelgate_circuit_state", prometheus_label("route", route["route"].get<std::string>()), circuit_state_value(route["circuit"].get<std::string>()));
  }
  text.family("modelgate_route_measured_ttft_seconds", "gauge", "Each route's measured time to first token (EWMA).");
  for (const auto& route : routes) {
    if (route["measured_ttft_ms"].is_number()) {
      text.sample("modelgate_route_measured_ttft_seconds", prometheus_label("route", route["route"].get<std::string>()), route["measured_ttft_ms"].get<double>() / 1000);
    }
  }
  text.family("modelgate_route_measured_throughput_tokens_per_second", "gauge", "Each route's measured end-to-end throughput (EWMA).");
  for (const auto& route : routes) {
    if (route["measured_throughput_tok_s"].is_number()) {
      text.sample("modelgate_route_measured_throughput_tokens_per_second", prometheus_label("route", route["route"].get<std::string>()),
                  route["measured_throughput_tok_s"].get<double>());
    }
  }
}

void render_local_engine(MetricsText& text, const LocalProvider& local) {
  engine::ServingCounters c = local.serving().counters();
  auto gauge = [&text](const char* name, const char* help, double value) { text.family(name, "gauge", help).sample(name, "", value); };
  auto counter = [&text](const char* name, const char* help, double value) { text.family(name, "counter", help).sample(name, "", value); };
  gauge("modelgate_local_queue_depth", "Requests waiting for the local engine.", static_cast<double>(c.queued));
  gauge("modelgate_local_running_sequences", "Requests the local engine is decoding now.", static_cast<double>(c.running));
  gauge("modelgate_local_mean_batch_size", "Sequences per forward pass, averaged since start.",
        c.steps ? static_cast<double>(c.sequence_steps) / static_cast<double>(c.steps) : 0.0);
  counter("modelgate_local_steps_total", "Forward passes of the local engine.", static_cast<double>(c.steps));
  counter("modelgate_local_sequence_steps_total", "Sequences fed, summed over passes (rate over steps' rate: batch size).",
          static_cast<double>(c.sequence_steps));
  counter("modelgate_local_generated_tokens_total", "Tokens the local engine generated (rate: tokens per second).",
          static_cast<double>(c.generated_tokens));
  counter("modelgate_local_prompt_tokens_total", "Prompt tokens the local engine computed.", static_cast<double>(c.prompt_tokens));
  counter("modelgate_local_cached_prompt_tokens_total", "Prompt tokens taken from the prefix cache instead.",
          static_cast<double>(c.cached_prompt_tokens));
  counter("modelgate_local_refused_total", "Requests refused because the local engine's queue was full.", static_cast<double>(c.refused));
}

}  // namespace

HttpReply Api::metrics() const {
  HttpReply reply;
  reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
  std::string& out = reply.body;
  if (exchange_.observers.metrics) exchange_.observers.metrics->render(out);
  MetricsText text(out);
  render_state_gauges(text, state_);
  render_route_gauges(text, services_.routing.routes_json());
  if (services_.local) render_local_engine(text, *services_.local);
  if (const pricing::UsageRecorder* recorder = exchange_.observers.recorder) render_ledger(text, recorder->health());
  if (services_.fleet) services_.fleet->render_metrics(text);
  if (const AccessLog* log = exchange_.observers.access_log) {
    text.family("modelgate_access_log_dropped_total", "counter", "Access log lines dropped because the writer fell behind.")
        .sample("modelgate_access_log_dropped_total", "", static_cast<double>(log->dropped()));
  }
  return reply;
}

HttpReply Api::dashboard_page() const {
  HttpReply reply;
  reply.content_type = "text/html; charset=utf-8";
  reply.body = std::string(dashboard_html());
  reply.headers.emplace_back("Cache-Control", "no-cache");
  return reply;
}

HttpReply Api::dashboard_data() const {
  const std::int64_t now_ms = unix_now_ms();
  nlohmann::json keys = services_.access ? keys_json(*services_.access, now_ms) : nlohmann::json::array();
  TrafficSeries* traffic = exchange_.observers.traffic;
  return json_reply({{"now_ms", now_ms},
                     {"started_at_ms", services_.started_at_ms},
                     {"totals", traffic ? traffic->totals_json() : nlohmann::json::object()},
                     {"routes", services_.routing.routes_json()},
                     {"series", traffic ? traffic->to_json(now_ms) : nlohmann::json::object()},
                     {"keys", std::move(keys)}});
}

}  // namespace mg::gateway
