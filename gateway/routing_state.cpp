#include "gateway/routing_state.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>

namespace mg::gateway {
namespace {

// What a client is told of a route the operator's configuration leaves without a client: the reason itself
// names environment variables and config keys, which are the operator's business.
constexpr const char* kNotConfigured = "not configured on this gateway";

pricing::BuiltinRoute builtin_route_for(const Provider& provider, const ModelOffer& offer) {
  pricing::BuiltinRoute builtin;
  pricing::RouteEntry& route = builtin.route;
  route.route_id = 0;
  route.model_id = offer.model_id;
  route.provider = provider.name();
  route.upstream_model_id = offer.upstream_model_id;
  route.name = provider.name() + "/" + offer.model_id;
  route.usd_per_mtok_input = offer.usd_per_mtok_input;
  route.usd_per_mtok_output = offer.usd_per_mtok_output;
  route.context_length = offer.context_length;
  route.supports_tools = offer.supports_tools;
  route.supports_json = offer.supports_json;
  route.last_resort = offer.last_resort;
  route.description = offer.description;
  builtin.model_context_length = offer.context_length;
  builtin.model_kind = offer.embedding ? pricing::ModelKind::embedding : pricing::ModelKind::chat;
  return builtin;
}

// OpenRouter lists prices as USD per token, in decimal strings.
std::string usd_per_token_text(double usd_per_mtok) {
  char text[64];
  std::snprintf(text, sizeof text, "%.10g", usd_per_mtok / 1e6);
  return text;
}

nlohmann::json route_json(const pricing::RouteEntry& route, Audience audience) {
  nlohmann::json out = {{"route", route.name},
                        {"provider", route.provider},
                        {"upstream_model", route.upstream_model_id},
                        {"usd_per_mtok_input", route.usd_per_mtok_input},
                        {"usd_per_mtok_output", route.usd_per_mtok_output},
                        {"context_length", route.context_length},
                        {"quantization", route.quantization},
                        {"published_ttft_ms", route.published_ttft_ms ? nlohmann::json(*route.published_ttft_ms) : nullptr},
                        {"published_throughput_tok_s",
                         route.published_throughput_tok_s ? nlohmann::json(*route.published_throughput_tok_s) : nullptr},
                        {"supports_tools", route.supports_tools},
                        {"supports_json", route.supports_json},
                        {"available", route.enabled && route.unavailable.empty()}};
  if (!route.description.empty()) out["description"] = route.description;
  if (!route.enabled) out["unavailable_reason"] = "disabled";
  else if (!route.unavailable.empty()) out["unavailable_reason"] = audience == Audience::operator_ ? route.unavailable : kNotConfigured;
  return out;
}

bool usable(const pricing::RouteEntry& route) { return route.enabled && route.unavailable.empty(); }

// The route whose price a model is listed with: usable routes first, then the cheapest.
bool listed_before(const pricing::RouteEntry& a, const pricing::RouteEntry& b) {
  if (usable(a) != usable(b)) return usable(a);
  return a.usd_per_mtok_input + a.usd_per_mtok_output < b.usd_per_mtok_input + b.usd_per_mtok_output;
}

}  // namespace

double RouteTarget::cost_usd(const UsageReport& usage) const {
  return expected_cost_usd(*entry, usage.prompt_tokens, usage.completion_tokens);
}

RoutingState::RoutingState(std::vector<std::shared_ptr<Provider>> in_process, std::vector<std::shared_ptr<Provider>> remote,
                           RoutingOptions options, std::map<std::string, std::string> unusable, CircuitOptions circuit)
    : unusable_(std::move(unusable)), options_(options), snapshot_(pricing::CatalogueSnapshot::build({}, {}, {}, 0)), circuits_(circuit) {
  for (auto& provider : in_process) {
    for (const ModelOffer& offer : provider->models()) builtin_routes_.push_back(builtin_route_for(*provider, offer));
    providers_[provider->name()] = std::move(provider);
  }
  for (auto& provider : remote) providers_[provider->name()] = std::move(provider);
  snapshot_.swap_in(pricing::CatalogueSnapshot::build({}, builtin_routes_, {}, 0));
}

std::string RoutingState::unavailable_reason(const pricing::ProviderRecord& provider) const {
  if (auto why = unusable_.find(provider.name); why != unusable_.end()) return why->second;
  if (!providers_.contains(provider.name)) return "no client for provider '" + provider.name + "'";
  return {};
}

void RoutingState::reload(const pricing::Database& db) {
  auto check = [this](const pricing::ProviderRecord& provider) { return unavailable_reason(provider); };
  snapshot_.swap_in(pricing::CatalogueSnapshot::build(pricing::load_catalogue(db), builtin_routes_, check, next_version_++));
}

// The fleet's recent calls on the route (this replica's among them) would open a circuit.
bool RoutingState::failing_in_fleet(const std::string& route) const {
  std::optional<pricing::RouteTotals> fleet = live_stats_.fleet_totals(route);
  return fleet && circuits_.would_trip(fleet->calls, fleet->failures);
}

// Routing passes over a route while its circuit is open here, or while it is failing in the fleet.
bool RoutingState::skips(const std::string& route) const { return circuits_.is_open(route) || failing_in_fleet(route); }

Result<RoutedRequest> RoutingState::route(const ChatRequest& request) const {
  thread_local std::mt19937_64 random{std::random_device{}()};
  RoutedRequest routed{snapshot_.get(), {}};
  RoutingContext context{*routed.snapshot, &live_stats_, [this](const pricing::RouteEntry& route) { return skips(route.name); },
                         &random};
  Result<RoutePlan> plan = plan_routes(request, context, options_);
  if (!plan) return plan.error();
  for (const pricing::RouteEntry* entry : plan->chain) {
    auto provider = providers_.find(entry->provider);
    if (provider != providers_.end()) routed.chain.push_back(RouteTarget{entry, provider->second});
  }
  return routed;
}

nlohmann::json RoutingState::routes_json() const {
  auto optional_json = [](const std::optional<double>& value) { return value ? nlohmann::json(*value) : nlohmann::json(nullptr); };
  auto snapshot = snapshot_.get();
  nlohmann::json routes = nlohmann::json::array();
  for (const pricing::RouteEntry& route : snapshot->routes()) {
    nlohmann::json entry = route_json(route, Audience::operator_);
    std::optional<pricing::RouteFigures> measured = live_stats_.figures(route.name);
    entry["model"] = route.model_id;
    entry["circuit"] = to_string(circuits_.state(route.name));
    entry["measured_ttft_ms"] = measured ? optional_json(measured->ttft_ms) : nullptr;
    entry["measured_throughput_tok_s"] = measured ? optional_json(measured->throughput_tok_s) : nullptr;
    entry["success_rate"] = measured ? nlohmann::json(measured->success_rate) : nullptr;
    entry["samples"] = measured ? measured->samples : 0;
    if (std::optional<pricing::RouteTotals> fleet = live_stats_.fleet_totals(route.name)) {
      entry["fleet"] = {{"calls", fleet->calls}, {"failures", fleet->failures}, {"failing", failing_in_fleet(route.name)}};
    }
    entry["note"] = entry.value("unavailable_reason", route.description);
    routes.push_back(std::move(entry));
  }
  return routes;
}

nlohmann::json RoutingState::models_json(Audience audience) const {
  auto snapshot = snapshot_.get();
  nlohmann::json data = nlohmann::json::array();
  std::vector<const pricing::ModelEntry*> models;
  for (const pricing::ModelEntry& model : snapshot->models()) {
    if (!model.routes.empty()) models.push_back(&model);
  }
  std::sort(models.begin(), models.end(), [](const auto* a, const auto* b) { return a->id < b->id; });
  for (const pricing::ModelEntry* model : models) {
    const pricing::RouteEntry* cheapest = nullptr;
    nlohmann::json routes = nlohmann::json::array();
    for (std::uint32_t index : model->routes) {
      const pricing::RouteEntry& route = snapshot->routes()[index];
      routes.push_back(route_json(route, audience));
      routes.back()["circuit"] = to_string(circuits_.state(route.name));
      if (!cheapest || listed_before(route, *cheapest)) cheapest = &route;
    }
    data.push_back({{"id", model->id},
                    {"object", "model"},
                    {"created", 0},
                    {"owned_by", cheapest->provider},
                    {"context_length", model->context_length},
                    {"kind", pricing::to_string(model->kind)},
                    {"pricing", {{"prompt", usd_per_token_text(cheapest->usd_per_mtok_input)},
                                 {"completion", usd_per_token_text(cheapest->usd_per_mtok_output)}}},
                    {"routes", std::move(routes)}});
  }
  return {{"object", "list"}, {"data", std::move(data)}};
}

}  // namespace mg::gateway
