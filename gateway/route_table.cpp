#include "gateway/route_table.h"

#include <algorithm>
#include <cstdio>
#include <map>

namespace mg::gateway {
namespace {

// OpenRouter lists prices as USD per token, in decimal strings.
std::string usd_per_token_text(double usd_per_mtok) {
  char text[64];
  std::snprintf(text, sizeof text, "%.10g", usd_per_mtok / 1e6);
  return text;
}

nlohmann::json route_json(const Route& route) {
  return {{"route", route.name()},
          {"provider", route.provider->name()},
          {"upstream_model", route.offer.upstream_model_id},
          {"usd_per_mtok_input", route.offer.usd_per_mtok_input},
          {"usd_per_mtok_output", route.offer.usd_per_mtok_output},
          {"context_length", route.offer.context_length},
          {"supports_tools", route.offer.supports_tools},
          {"supports_json", route.offer.supports_json}};
}

}  // namespace

double Route::cost_usd(const UsageReport& usage) const {
  return (static_cast<double>(usage.prompt_tokens) * offer.usd_per_mtok_input +
          static_cast<double>(usage.completion_tokens) * offer.usd_per_mtok_output) / 1e6;
}

RouteTable::RouteTable(std::vector<std::shared_ptr<Provider>> providers) {
  for (const auto& provider : providers) {
    for (ModelOffer& offer : provider->models()) routes_.push_back(Route{provider, std::move(offer)});
  }
}

std::vector<Route> RouteTable::routes_for(const std::string& requested) const {
  std::vector<Route> found;
  for (const Route& route : routes_) {
    if (route.offer.model_id == requested || route.name() == requested) found.push_back(route);
  }
  return found;
}

Result<std::vector<Route>> RouteTable::chain_for(const ChatRequest& request) const {
  std::vector<Route> chain;
  std::vector<std::string> requested = request.requested_models();
  for (const std::string& model : requested) {
    for (Route& route : routes_for(model)) chain.push_back(std::move(route));
  }
  if (!chain.empty()) return chain;
  std::string names;
  for (const std::string& model : requested) names += (names.empty() ? "'" : ", '") + model + "'";
  Error error = Error::not_found("The model " + names + " does not exist or is not served by this gateway; GET /v1/models lists the models available",
                                 "model_not_found");
  error.param = "model";
  return error;
}

nlohmann::json RouteTable::models_json() const {
  std::map<std::string, std::vector<const Route*>> by_model;  // sorted by id for a stable listing
  for (const Route& route : routes_) by_model[route.offer.model_id].push_back(&route);
  nlohmann::json data = nlohmann::json::array();
  for (const auto& [model_id, routes] : by_model) {
    auto cheapest = *std::min_element(routes.begin(), routes.end(), [](const Route* a, const Route* b) {
      return a->offer.usd_per_mtok_input + a->offer.usd_per_mtok_output < b->offer.usd_per_mtok_input + b->offer.usd_per_mtok_output;
    });
    nlohmann::json route_list = nlohmann::json::array();
    int context_length = 0;
    for (const Route* route : routes) {
      route_list.push_back(route_json(*route));
      context_length = std::max(context_length, route->offer.context_length);
    }
    data.push_back({{"id", model_id},
                    {"object", "model"},
                    {"created", 0},
                    {"owned_by", cheapest->provider->name()},
                    {"context_length", context_length},
                    {"pricing", {{"prompt", usd_per_token_text(cheapest->offer.usd_per_mtok_input)},
                                 {"completion", usd_per_token_text(cheapest->offer.usd_per_mtok_output)}}},
                    {"routes", std::move(route_list)}});
  }
  return {{"object", "list"}, {"data", std::move(data)}};
}

}  // namespace mg::gateway
