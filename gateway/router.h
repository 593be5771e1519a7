// Chooses the routes for a request: resolves `model` and `models` (with :floor / :nitro suffixes) in the
// catalogue snapshot, keeps the eligible routes, and orders them by policy and the OpenRouter `provider`
// preferences into a fallback chain. Reads only immutable data: no I/O, no locks but the live stats'.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "pricing/catalogue_snapshot.h"
#include "pricing/live_stats.h"
#include "core/chat_request.h"
#include "core/result.h"

namespace mg::gateway {

enum class RoutingPolicy { price, throughput, latency, balanced };

struct RoutingOptions {
  RoutingPolicy default_policy = RoutingPolicy::price;
  // Output tokens assumed for the expected cost when max_tokens is not sent. 0: without a bound the
  // length is unknown, so the cost compares input prices and output prices only break ties.
  std::int64_t assumed_completion_tokens = 0;
  int retry_after_s = 5;                         // on the 503 when nothing is eligible
};

struct RoutingContext {
  const pricing::CatalogueSnapshot& catalogue;
  const pricing::LiveStats* live_stats = nullptr;                 // measured figures, when there are enough
  std::function<bool(const pricing::RouteEntry&)> circuit_open;   // empty: every circuit closed
  std::mt19937_64* random = nullptr;                              // for the balanced policy; seedable in tests
};

struct RoutePlan {
  std::vector<const pricing::RouteEntry*> chain;  // in order of preference, last-resort routes at the end
  std::vector<std::string> excluded;              // "deepinfra/mixtral-8x7b-instruct: no API key in DEEPINFRA_API_KEY"
};

// 404 model_not_found when no requested model is known; 503 no_route_available naming every exclusion
// when the models are known but no route is eligible.
Result<RoutePlan> plan_routes(const ChatRequest& request, const RoutingContext& context, const RoutingOptions& options = {});

// The cost a route would charge for `prompt_tokens` in and `completion_tokens` out.
double expected_cost_usd(const pricing::RouteEntry& route, std::int64_t prompt_tokens, std::int64_t completion_tokens);

}  // namespace mg::gateway
