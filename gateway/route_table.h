// The models the gateway can serve and the provider routes behind each, as listed by the providers.
// Interim routing: requested models in order, each model's routes in listing order. The pricing-aware
// router (issue 3) replaces chain_for() and keeps this shape.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "providers/provider.h"

namespace mg::gateway {

struct Route {
  std::shared_ptr<Provider> provider;
  ModelOffer offer;

  std::string name() const { return provider->name() + "/" + offer.model_id; }  // "fake/echo"
  double cost_usd(const UsageReport& usage) const;
};

class RouteTable {
 public:
  explicit RouteTable(std::vector<std::shared_ptr<Provider>> providers);

  // The fallback chain for the request's `model` and `models`; a model may be named "id" or "provider/id".
  // 404 model_not_found when none of them is known.
  Result<std::vector<Route>> chain_for(const ChatRequest& request) const;

  // GET /v1/models body: OpenAI list shape, each model with its price and routes.
  nlohmann::json models_json() const;

  bool empty() const { return routes_.empty(); }

 private:
  std::vector<Route> routes_for(const std::string& requested) const;

  std::vector<Route> routes_;
};

}  // namespace mg::gateway
