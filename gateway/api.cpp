#include "gateway/api.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "gateway/chat_exchange.h"
#include "gateway/router.h"
#include "formats/anthropic_messages.h"
#include "formats/openai_embeddings.h"
#include "formats/openai_responses.h"
#include "formats/openai_wire.h"
#include "gateway/anthropic_answer.h"

namespace mg::gateway {
namespace {

struct Endpoint {
  std::string_view path;
  std::string_view methods;  // as the Allow header lists them
  bool prefix = false;       // also serves path + "/..."
};

constexpr std::array kEndpoints{
    Endpoint{"/v1/chat/completions", "POST"}, Endpoint{"/v1/completions", "POST"}, Endpoint{"/v1/messages", "POST"},
    Endpoint{"/v1/messages/count_tokens", "POST"}, Endpoint{"/v1/responses", "POST"}, Endpoint{"/v1/embeddings", "POST"},
    Endpoint{"/v1/models", "GET"},
    Endpoint{"/v1/usage", "GET"},             Endpoint{"/health", "GET"},         Endpoint{"/ready", "GET"},
    Endpoint{"/metrics", "GET"},              Endpoint{"/dashboard", "GET"},      Endpoint{"/dashboard/data", "GET"},
    Endpoint{"/admin/keys", "GET, POST"},     Endpoint{"/admin/keys", "DELETE", true},
};

const Endpoint* find_endpoint(std::string_view path) {
  for (const Endpoint& endpoint : kEndpoints) {
    if (endpoint.path == path && !endpoint.prefix) return &endpoint;
    if (endpoint.prefix && path.size() > endpoint.path.size() + 1 && path.starts_with(endpoint.path) && path[endpoint.path.size()] == '/') {
      return &endpoint;
    }
  }
  return nullptr;
}

bool allows(const Endpoint& endpoint, std::string_view method) {
  if (method == "HEAD") method = "GET";  // the session sends no body for HEAD
  std::string_view methods = endpoint.methods;
  while (!methods.empty()) {
    std::size_t comma = methods.find(", ");
    if (methods.substr(0, comma) == method) return true;
    methods = comma == std::string_view::npos ? std::string_view() : methods.substr(comma + 2);
  }
  return false;
}

HttpReply method_not_allowed(const HttpRequest& request, std::string_view allowed) {
  Error error{405, FailureClass::caller_fault, "invalid_request_error", "method_not_allowed", {},
              "Method " + request.method + " is not allowed on " + request.path + "; use " + std::string(allowed), 0};
  HttpReply reply = error_reply(error);
  reply.headers.emplace_back("Allow", std::string(allowed));
  return reply;
}

HttpReply unknown_path(const HttpRequest& request) {
  return error_reply(Error::not_found("No endpoint " + request.method + " " + request.path +
                                          "; this gateway serves /v1/chat/completions, /v1/completions, /v1/messages, /v1/responses, /v1/embeddings and /v1/models",
                                      "unknown_url"));
}

Error unsupported_media_type_error(const HttpRequest& request) {
  return Error{415, FailureClass::caller_fault, "invalid_request_error", "unsupported_media_type", {},
               "Content-Type must be application/json; got '" + request.content_type + "'", 0};
}

// The scheduler's counters: how full its batches are, what the prefix cache saves, what waits.
nlohmann::json local_engine_json(const LocalProvider& local) {
  engine::ServingCounters c = local.serving().counters();
  return {{"model", local.models().front().model_id},
          {"demo", local.is_demo()},
          {"queued", c.queued},
          {"running", c.running},
          {"steps", c.steps},
          {"shared_steps", c.shared_steps},
          {"mean_sequences_per_step", c.steps ? static_cast<double>(c.sequence_steps) / static_cast<double>(c.steps) : 0.0},
          {"max_sequences_in_step", c.max_sequences_in_step},
          {"prompt_tokens", c.prompt_tokens},
          {"cached_prompt_tokens", c.cached_prompt_tokens},
          {"prefix_hits", c.prefix_hits},
          {"generated_tokens", c.generated_tokens},
          {"completed", c.completed},
          {"refused", c.refused}};
}

// The most any route of the chain could charge for this request: its budget reservation. Without
// max_tokens, an answer may fill the route's context.
double worst_case_cost_usd(const ChatRequest& request, const RoutedRequest& routed) {
  const std::int64_t prompt_tokens = request.estimated_prompt_tokens();
  double worst = 0;
  for (const RouteTarget& target : routed.chain) {
    std::int64_t completion = request.flavor == ApiFlavor::embedding ? 0  // priced by input alone
                              : request.max_tokens ? *request.max_tokens
                                                   : std::max<std::int64_t>(1, target.entry->context_length - prompt_tokens);
    worst = std::max(worst, expected_cost_usd(*target.entry, prompt_tokens, completion * std::max(1, request.n)));
  }
  return worst;
}

// The client API of a path that answers completions, or nullopt for another path.
std::optional<ClientApi> completion_api(std::string_view path) {
  if (path == "/v1/chat/completions") return ClientApi::openai_chat;
  if (path == "/v1/completions") return ClientApi::openai_completions;
  if (path == "/v1/messages") return ClientApi::anthropic_messages;
  if (path == "/v1/responses") return ClientApi::openai_responses;
  if (path == "/v1/embeddings") return ClientApi::openai_embeddings;
  return std::nullopt;
}

// The one request type, from the body of whichever API the client spoke. `parsed_bytes` gets about
// what the parsed request holds while it is answered.
Result<ChatRequest> parse_completion_request(ClientApi api, std::string_view body, const JsonLimits& limits, std::size_t& parsed_bytes) {
  switch (api) {
    case ClientApi::anthropic_messages: return parse_anthropic_messages(body, AnthropicBody::message, limits, &parsed_bytes);
    case ClientApi::openai_responses: return parse_openai_responses(body, limits, &parsed_bytes);
    case ClientApi::openai_embeddings: return parse_embedding_request(body, limits, &parsed_bytes);
    case ClientApi::openai_completions: return parse_chat_request(body, ApiFlavor::completion, limits, &parsed_bytes);
    case ClientApi::openai_chat: break;
  }
  return parse_chat_request(body, ApiFlavor::chat, limits, &parsed_bytes);
}

}  // namespace

HttpReply json_reply(const nlohmann::json& body, unsigned status) {
  HttpReply reply;
  reply.status = status;
  reply.body = to_json_text(body);
  return reply;
}

bool is_json_media_type(std::string_view content_type) {
  std::string type(content_type.substr(0, content_type.find(';')));
  type.erase(std::remove_if(type.begin(), type.end(), [](unsigned char c) { return std::isspace(c); }), type.end());
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
  return type.empty() || type == "application/json";
}

Api::Api(ApiServices services) : services_(std::move(services)) {}

void Api::handle(HttpRequest request, std::shared_ptr<ResponseChannel> channel) {
  const Endpoint* endpoint = find_endpoint(request.path);
  if (!endpoint) return channel->send_reply(unknown_path(request));
  if (!allows(*endpoint, request.method)) return channel->send_reply(method_not_allowed(request, endpoint->methods));
  const std::string& path = request.path;
  if (path == "/health") return channel->send_reply(health(request));
  if (path == "/ready") return channel->send_reply(ready());
  if (path == "/dashboard") return channel->send_reply(dashboard_page());
  if (path == "/metrics") {
    if (auto refused = check_operator(request)) return channel->send_reply(error_reply(*refused));
    return channel->send_reply(metrics());
  }
  if (path.starts_with("/admin/") || path == "/dashboard/data") {
    if (auto refused = check_admin(request)) return channel->send_reply(error_reply(*refused));
    if (path == "/dashboard/data") return channel->send_reply(dashboard_data());
    return admin_keys(request, std::move(channel));
  }
  if (path == "/v1/models" || path == "/v1/usage") {
    Result<Caller> caller = identify_caller(request);
    if (!caller) return channel->send_reply(error_reply(caller.error()));
    if (path == "/v1/models") return channel->send_reply(models(*caller));
    return usage(request, *caller, std::move(channel));
  }
  if (path == "/v1/messages/count_tokens") return count_tokens(request, std::move(channel));
  handle_completion(std::move(request), *completion_api(path), std::move(channel));
}

// The key is checked first (401 before 400, as OpenAI does), then the request, whether the key may use
// its models (before routing: a refused model must learn nothing of its routes), its routes, and what the
// key may spend on them.
void Api::handle_completion(HttpRequest request, ClientApi api, std::shared_ptr<ResponseChannel> channel) {
  auto reject = [&](const ChatRequest* parsed, const std::string& key_id, const Error& error) {
    reject_completion(request, api, parsed, key_id, error, channel);
  };
  Result<AccessControl::KeyRef> key = services_.access ? services_.access->authenticate(request.authorization) : AccessControl::KeyRef{};
  if (!key) return reject(nullptr, "", key.error());
  const std::string key_id = *key ? (*key)->id : "";
  if (!is_json_media_type(request.content_type)) return reject(nullptr, key_id, unsupported_media_type_error(request));
  JsonLimits limits;
  limits.max_parsed_bytes = config_.http.max_parsed_bytes(request.body.size());
  std::size_t parsed_bytes = 0;
  Result<ChatRequest> parsed = parse_completion_request(api, request.body, limits, parsed_bytes);
  if (!parsed) return reject(nullptr, key_id, parsed.error());
  if (auto shed = channel->hold_parsed_bytes(parsed_bytes)) return reject(&*parsed, key_id, *shed);
  if (auto refused = services_.access ? services_.access->model_refusal(*key, parsed->requested_models()) : std::nullopt) {
    return reject(&*parsed, key_id, *refused);
  }
  Result<RoutedRequest> routed = services_.routing.route(*parsed);
  if (!routed) return reject(&*parsed, key_id, routed.error());
  Result<AccessGrant> grant = AccessGrant{};
  const double worst_case = *key ? worst_case_cost_usd(*parsed, *routed) : 0;  // with no key there is nothing to check
  const std::int64_t now_ms = unix_now_ms();
  if (*key) grant = services_.access->admit(*key, AccessRequest{parsed->requested_models(), worst_case, now_ms});
  if (!grant) return reject(&*parsed, key_id, grant.error());
  PendingCompletion pending{std::move(request), api, std::move(parsed).value(), std::move(routed).value(),
                            std::make_shared<AccessGrant>(std::move(grant).value()), std::move(channel)};
  if (services_.fleet && *key && FleetLimits::applies_to((*key)->limits)) {
    auto known_spend = [&] { return services_.access->known_spend((*key)->id, now_ms); };
    if (!services_.fleet->admit_from_lease(**key, worst_case, *pending.grant, known_spend, now_ms)) {
      return admit_in_fleet(**key, worst_case, now_ms, std::move(pending));
    }
  }
  start_exchange(std::move(pending));
}

// The replica admitted it; the fleet's answer comes back on the request's own thread.
void Api::admit_in_fleet(const pricing::ApiKeyRecord& key, double worst_case_cost_usd, std::int64_t now_ms, PendingCompletion pending) {
  pending.request.body = std::string();  // parsed already: a request waiting on Redis keeps only what it needs
  auto waiting = std::make_shared<PendingCompletion>(std::move(pending));
  services_.fleet->admit(key, worst_case_cost_usd, services_.access->known_spend(key.id, now_ms), now_ms, waiting->grant,
                         waiting->channel->executor(), [this, waiting](std::optional<Error> refusal) {
                           if (!refusal) return start_exchange(std::move(*waiting));
                           reject_completion(waiting->request, waiting->api, &waiting->parsed, waiting->grant->key_id(), *refusal, waiting->channel);
                         });
}

void Api::start_exchange(PendingCompletion pending) {
  auto chat_request = std::make_shared<const ChatRequest>(std::move(pending.parsed));
  ExchangeOrigin origin{pending.request.request_id, pending.request.received, std::move(*pending.grant), pending.api};
  auto exchange = std::make_shared<ChatExchange>(std::move(chat_request), std::move(pending.routed), std::move(pending.channel), exchange_,
                                                 std::move(origin));
  exchange->start();
}

// A completion request that never reached a provider still gets its ledger row, written before the reply
// leaves, as for every completion: whoever sees the answer can rely on its row.
void Api::reject_completion(const HttpRequest& request, ClientApi api, const ChatRequest* parsed, const std::string& key_id, const Error& error,
                            const std::shared_ptr<ResponseChannel>& channel) {
  pricing::LedgerRecord row;
  row.request_id = request.request_id;
  row.created_at_ms = unix_now_ms();
  row.api_key_id = key_id;
  if (parsed) {
    row.requested_model = parsed->requested_models().empty() ? "" : parsed->requested_models().front();
    row.stream = parsed->stream;
  }
  row.status = error.http_status;
  row.error_code = ledger_error_code(error);
  row.duration_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - request.received).count();
  exchange_.observers.conclude(std::move(row), RequestFacts{});
  channel->send_reply(error_reply_for(api, error));
}

// Anthropic's token count: exact where the first route counts with its own tokenizer (the local engine),
// else the gateway's estimate, and the answer says which.
void Api::count_tokens(const HttpRequest& request, std::shared_ptr<ResponseChannel> channel) {
  auto refuse = [&](const Error& error) { channel->send_reply(anthropic_error_reply(error)); };
  Result<AccessControl::KeyRef> key = services_.access ? services_.access->authenticate(request.authorization) : AccessControl::KeyRef{};
  if (!key) return refuse(key.error());
  if (!is_json_media_type(request.content_type)) return refuse(unsupported_media_type_error(request));
  JsonLimits limits;
  Result<ChatRequest> parsed = parse_anthropic_messages(request.body, AnthropicBody::count_tokens, limits);
  if (!parsed) return refuse(parsed.error());
  if (auto refused = services_.access ? services_.access->model_refusal(*key, parsed->requested_models()) : std::nullopt) return refuse(*refused);
  Result<RoutedRequest> routed = services_.routing.route(*parsed);
  if (!routed) return refuse(routed.error());
  const auto* counter = dynamic_cast<const TokenCounter*>(routed->chain.front().provider.get());
  Result<std::int64_t> exact = counter ? counter->count_prompt_tokens(*parsed) : Result<std::int64_t>(Error::not_found("", ""));
  if (counter && !exact) return refuse(exact.error());
  nlohmann::json body = {{"input_tokens", exact ? *exact : parsed->estimated_prompt_tokens()}, {"estimated", !exact}};
  HttpReply reply = json_reply(body);
  reply.headers.emplace_back("x-modelgate-route", routed->chain.front().name());
  channel->send_reply(std::move(reply));
}

// Liveness (status and draining) for anyone; the counters for the operator only.
HttpReply Api::health(const HttpRequest& request) const {
  const pricing::UsageRecorder* recorder = exchange_.observers.recorder;
  std::optional<pricing::RecorderHealth> ledger;
  if (recorder) ledger = recorder->health();
  nlohmann::json body = {{"status", ledger && ledger->failing ? "degraded" : "ok"},  // still answering; the ledger catches up
                         {"draining", state_.draining.load()}};
  if (check_operator(request)) return json_reply(body);
  body.update(nlohmann::json{{"open_connections", state_.open_connections.load()},
                             {"requests_in_flight", state_.requests_in_flight.load()},
                             {"active_generations", state_.active_generations.load()},
                             {"requests_total", state_.requests_total.load()},
                             {"cancelled_total", state_.cancelled_total.load()},
                             {"rejected_connections", state_.rejected_connections.load()},
                             {"shed_requests", state_.shed_requests.load()},
                             {"buffered_body_bytes", state_.buffered_body_bytes.load()}});
  if (services_.local) body["local_engine"] = local_engine_json(*services_.local);
  if (services_.fleet) body["shared_state"] = services_.fleet->health_json();
  if (services_.fleet_routes) body["shared_state"]["route_stats"] = services_.fleet_routes->health_json();
  if (ledger) {
    body["ledger"] = {{"failing", ledger->failing}, {"pending_rows", ledger->pending_rows}, {"rows_written", ledger->rows_written},
                      {"rows_spilled", ledger->rows_spilled}, {"rows_lost", ledger->rows_lost},
                      {"journal_failures", ledger->journal_failures}};
    if (ledger->failing) body["ledger"]["error"] = ledger->last_error;
  }
  return json_reply(body);
}

HttpReply Api::ready() const {
  if (state_.draining.load()) {
    Error error = Error::unavailable("the gateway is shutting down", config_.no_route_retry_after_s);
    error.code = "draining";
    return error_reply(error);
  }
  auto snapshot = services_.routing.snapshot();
  return json_reply({{"status", "ready"}, {"catalogue_version", snapshot->version()}, {"routes", snapshot->routes().size()}});
}

HttpReply Api::models(const Caller& caller) const {
  return json_reply(services_.routing.models_json(caller.operator_view ? Audience::operator_ : Audience::client));
}

// A client key sees its own usage only; the operator (or anyone, on a gateway without client keys) sees all.
void Api::usage(const HttpRequest& request, const Caller& caller, std::shared_ptr<ResponseChannel> channel) {
  Result<pricing::UsageFilter> filter = parse_usage_query(request.query);
  if (!filter) return channel->send_reply(error_reply(filter.error()));
  if (caller.key) filter->api_key_id = caller.key->id;
  if (!services_.reports) return channel->send_reply(error_reply(Error::unavailable("the ledger is not available", config_.no_route_retry_after_s)));
  static constexpr const char* kGroupNames[] = {"model", "route", "key", "day"};
  nlohmann::json head = {{"object", "list"}, {"group_by", kGroupNames[static_cast<int>(filter->group_by)]},
                         {"from_ms", filter->from_ms ? nlohmann::json(*filter->from_ms) : nullptr},
                         {"to_ms", filter->to_ms ? nlohmann::json(*filter->to_ms) : nullptr}};
  auto executor = channel->executor();
  services_.reports->query(*filter, executor, [channel, head](Result<std::vector<pricing::UsageRow>> rows) mutable {
    if (!rows) return channel->send_reply(error_reply(rows.error()));
    nlohmann::json data = nlohmann::json::array();
    for (const pricing::UsageRow& row : *rows) {
      data.push_back({{"group", row.group}, {"requests", row.requests}, {"failed_requests", row.failed_requests},
                      {"prompt_tokens", row.prompt_tokens}, {"completion_tokens", row.completion_tokens}, {"cost_usd", row.cost_usd},
                      {"average_ttft_ms", row.average_ttft_ms ? nlohmann::json(*row.average_ttft_ms) : nullptr},
                      {"average_duration_ms", row.average_duration_ms}});
    }
    head["data"] = std::move(data);
    channel->send_reply(json_reply(head));
  });
}

}  // namespace mg::gateway
