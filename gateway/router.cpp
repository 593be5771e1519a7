#include "gateway/router.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <optional>

namespace mg::gateway {
namespace {

using pricing::Percentile;
using pricing::RouteEntry;

constexpr double kUnknown = std::numeric_limits<double>::quiet_NaN();

struct ModelChoice {
  std::string_view id;
  std::optional<RoutingPolicy> suffix_policy;
};

ModelChoice split_suffix(std::string_view name) {
  if (name.ends_with(":floor")) return {name.substr(0, name.size() - 6), RoutingPolicy::price};
  if (name.ends_with(":nitro")) return {name.substr(0, name.size() - 6), RoutingPolicy::throughput};
  return {name, std::nullopt};
}

bool same_provider(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y)); });
}

bool listed(const std::vector<std::string>& names, std::string_view provider) {
  return std::any_of(names.begin(), names.end(), [&](const std::string& name) { return same_provider(name, provider); });
}

std::size_t order_rank(const std::vector<std::string>& order, std::string_view provider) {
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (same_provider(order[i], provider)) return i;
  }
  return order.size();
}

bool wants_json(const ChatRequest& request) {
  return request.response_format && request.response_format->type != ResponseFormat::Type::text;
}

// Measured (once there are enough samples) or else published figures; NaN when neither is known.
struct Figures {
  double ttft_ms = kUnknown;
  double throughput_tok_s = kUnknown;
};

Figures effective_figures(const RouteEntry& route, const pricing::LiveStats* stats) {
  Figures figures;
  std::optional<pricing::RouteFigures> measured = stats ? stats->figures(route.name) : std::nullopt;
  if (measured && measured->ttft_ms) figures.ttft_ms = *measured->ttft_ms;
  else if (route.published_ttft_ms) figures.ttft_ms = *route.published_ttft_ms;
  if (measured && measured->throughput_tok_s) figures.throughput_tok_s = *measured->throughput_tok_s;
  else if (route.published_throughput_tok_s) figures.throughput_tok_s = *route.published_throughput_tok_s;
  return figures;
}

// Does the route meet every percentile threshold given? `at_least` for throughput, at most for latency.
bool meets(const PercentileThreshold& threshold, const RouteEntry& route, const pricing::LiveStats* stats, bool at_least) {
  const std::pair<const std::optional<double>*, Percentile> checks[] = {
      {&threshold.p50, Percentile::p50}, {&threshold.p75, Percentile::p75}, {&threshold.p90, Percentile::p90}, {&threshold.p99, Percentile::p99}};
  for (const auto& [limit, percentile] : checks) {
    if (!*limit) continue;
    std::optional<double> measured;
    if (stats) measured = at_least ? stats->throughput_percentile_tok_s(route.name, percentile) : stats->ttft_percentile_ms(route.name, percentile);
    if (!measured) measured = at_least ? route.published_throughput_tok_s : route.published_ttft_ms;
    if (!measured) return false;  // unknown figures cannot be shown to meet a threshold
    // OpenRouter states preferred_max_latency in seconds; the catalogue keeps milliseconds.
    double value = at_least ? *measured : *measured / 1000.0;
    if (at_least ? value < **limit : value > **limit) return false;
  }
  return true;
}

struct Candidate {
  const RouteEntry* route;
  double expected_cost;
  Figures figures;
  std::size_t order_rank;
  bool deprioritized;
  double random_key;  // balanced policy only
};

class ChainBuilder {
 public:
  ChainBuilder(const ChatRequest& request, const RoutingContext& context, const RoutingOptions& options)
      : request_(request), context_(context), options_(options), prefs_(request.provider ? *request.provider : kNoPreferences),
        prompt_tokens_(request.estimated_prompt_tokens()), context_need_(request.estimated_context_need()),
        completion_tokens_(request.flavor == ApiFlavor::embedding ? 0 : request.max_tokens.value_or(options.assumed_completion_tokens)) {}

  // Appends the ranked eligible routes of one model; false when the model is unknown, or of the other
  // kind (a chat model asked for embeddings).
  bool add_model(std::string_view requested) {
    ModelChoice choice = split_suffix(requested);
    const pricing::ModelEntry* model = context_.catalogue.find_model(choice.id);
    if (!model) return false;
    if (model->kind != wanted_kind()) {
      if (!other_kind_) other_kind_ = model;
      return false;
    }
    std::vector<Candidate> candidates;
    candidates.reserve(model->routes.size());
    for (std::uint32_t index : model->routes) {
      const RouteEntry& route = context_.catalogue.routes()[index];
      if (eligible(route)) candidates.push_back(candidate_for(route));
    }
    rank(candidates, policy_for(choice));
    keep_allowed_fallbacks(candidates);
    for (const Candidate& candidate : candidates) add_to_chain(candidate.route);
    return true;
  }

  // The first model asked for that serves the other kind of request; nullptr when none did.
  const pricing::ModelEntry* other_kind() const { return other_kind_; }

  RoutePlan finish() {
    std::stable_partition(plan_.chain.begin(), plan_.chain.end(), [](const RouteEntry* route) { return !route->last_resort; });
    return std::move(plan_);
  }

 private:
  static inline const ProviderPreferences kNoPreferences{};

  pricing::ModelKind wanted_kind() const {
    return request_.flavor == ApiFlavor::embedding ? pricing::ModelKind::embedding : pricing::ModelKind::chat;
  }

  RoutingPolicy policy_for(const ModelChoice& choice) const {
    if (choice.suffix_policy) return *choice.suffix_policy;
    if (prefs_.sort == "price") return RoutingPolicy::price;
    if (prefs_.sort == "throughput") return RoutingPolicy::throughput;
    if (prefs_.sort == "latency") return RoutingPolicy::latency;
    return options_.default_policy;
  }

  bool eligible(const RouteEntry& route) {
    const std::int64_t needed = context_need_;
    if (!route.enabled) return exclude(route, "disabled");
    // The reason itself (a missing key's variable, a config error) is for the operator's log, not the client.
    if (!route.unavailable.empty()) return exclude(route, "not configured on this gateway");
    if (!prefs_.only.empty() && !listed(prefs_.only, route.provider)) return exclude(route, "not in provider.only");
    if (listed(prefs_.ignore, route.provider)) return exclude(route, "in provider.ignore");
    if (needed > route.context_length) {
      return exclude(route, "context of " + std::to_string(route.context_length) + " tokens is too small for about " + std::to_string(needed));
    }
    if (!request_.tools.empty() && !route.supports_tools) return exclude(route, "does not support tools");
    if (prefs_.require_parameters && wants_json(request_) && !route.supports_json) return exclude(route, "does not support response_format");
    if (prefs_.max_price_prompt_usd_per_mtok && route.usd_per_mtok_input > *prefs_.max_price_prompt_usd_per_mtok) {
      return exclude(route, "input price above provider.max_price.prompt");
    }
    if (prefs_.max_price_completion_usd_per_mtok && route.usd_per_mtok_output > *prefs_.max_price_completion_usd_per_mtok) {
      return exclude(route, "output price above provider.max_price.completion");
    }
    if (context_.circuit_open && context_.circuit_open(route)) return exclude(route, "circuit open after recent failures");
    return true;
  }

  bool exclude(const RouteEntry& route, const std::string& why) {
    plan_.excluded.push_back(route.name + ": " + why);
    return false;
  }

  Candidate candidate_for(const RouteEntry& route) const {
    Candidate candidate{&route, expected_cost_usd(route, prompt_tokens_, completion_tokens_), effective_figures(route, context_.live_stats),
                        order_rank(prefs_.order, route.provider), false, 0};
    const pricing::LiveStats* stats = context_.live_stats;
    if (prefs_.preferred_min_throughput && !meets(*prefs_.preferred_min_throughput, route, stats, true)) candidate.deprioritized = true;
    if (prefs_.preferred_max_latency && !meets(*prefs_.preferred_max_latency, route, stats, false)) candidate.deprioritized = true;
    return candidate;
  }

  void assign_balanced_keys(std::vector<Candidate>& candidates) const {
    // Weighted sampling without replacement (Efraimidis-Spirakis): weight 1/price^2, key log(u)/weight.
    std::uniform_real_distribution<double> uniform(std::numeric_limits<double>::min(), 1.0);
    for (Candidate& candidate : candidates) {
      double u = context_.random ? uniform(*context_.random) : 0.5;
      double price = candidate.expected_cost;
      candidate.random_key = price <= 0 ? 0.0 : std::log(u) * price * price;
    }
  }

  void rank(std::vector<Candidate>& candidates, RoutingPolicy policy) const {
    if (policy == RoutingPolicy::balanced) assign_balanced_keys(candidates);
    auto policy_less = [policy](const Candidate& a, const Candidate& b) -> std::optional<bool> {
      auto unknown_last = [](double x, double y, bool higher_better) -> std::optional<bool> {
        if (std::isnan(x) != std::isnan(y)) return std::isnan(y);
        if (std::isnan(x) || x == y) return std::nullopt;
        return higher_better ? x > y : x < y;
      };
      switch (policy) {
        case RoutingPolicy::price:
          if (a.expected_cost != b.expected_cost) return a.expected_cost < b.expected_cost;
          return std::nullopt;
        case RoutingPolicy::throughput: return unknown_last(a.figures.throughput_tok_s, b.figures.throughput_tok_s, true);
        case RoutingPolicy::latency: return unknown_last(a.figures.ttft_ms, b.figures.ttft_ms, false);
        case RoutingPolicy::balanced:
          if (a.random_key != b.random_key) return a.random_key > b.random_key;
          return std::nullopt;
      }
      return std::nullopt;
    };
    std::sort(candidates.begin(), candidates.end(), [&](const Candidate& a, const Candidate& b) {
      if (a.order_rank != b.order_rank) return a.order_rank < b.order_rank;
      if (a.deprioritized != b.deprioritized) return !a.deprioritized;
      if (auto decided = policy_less(a, b)) return *decided;
      if (a.expected_cost != b.expected_cost) return a.expected_cost < b.expected_cost;  // then cheaper
      if (a.route->usd_per_mtok_output != b.route->usd_per_mtok_output) return a.route->usd_per_mtok_output < b.route->usd_per_mtok_output;
      if (a.route->provider != b.route->provider) return a.route->provider < b.route->provider;
      return a.route->route_id < b.route->route_id;
    });
  }

  // allow_fallbacks: false keeps only the providers named in `order`, or only the best route without one.
  void keep_allowed_fallbacks(std::vector<Candidate>& candidates) const {
    if (prefs_.allow_fallbacks || candidates.empty()) return;
    if (prefs_.order.empty()) {
      candidates.resize(1);
      return;
    }
    std::erase_if(candidates, [&](const Candidate& candidate) { return candidate.order_rank == prefs_.order.size(); });
  }

  void add_to_chain(const RouteEntry* route) {
    if (std::find(plan_.chain.begin(), plan_.chain.end(), route) == plan_.chain.end()) plan_.chain.push_back(route);
  }

  const ChatRequest& request_;
  const RoutingContext& context_;
  const RoutingOptions& options_;
  const ProviderPreferences& prefs_;
  std::int64_t prompt_tokens_;
  std::int64_t context_need_;
  std::int64_t completion_tokens_;
  RoutePlan plan_;
  const pricing::ModelEntry* other_kind_ = nullptr;
};

Error no_model_error(const std::vector<std::string>& requested) {
  std::string names;
  for (const std::string& model : requested) names += (names.empty() ? "'" : ", '") + model + "'";
  Error error = Error::not_found("The model " + names + " does not exist or is not served by this gateway; GET /v1/models lists the models available",
                                 "model_not_found");
  error.param = "model";
  return error;
}

// The client asked a chat model for embeddings, or an embedding model for an answer.
Error wrong_kind_error(const pricing::ModelEntry& model) {
  bool embedding = model.kind == pricing::ModelKind::embedding;
  return Error::invalid_request("The model '" + model.id + "' is " + (embedding ? "an embedding model; send it to POST /v1/embeddings"
                                                                                   : "a chat model and serves no embeddings; ask an embedding model"),
                                 "model", "model_kind_mismatch");
}

Error nothing_eligible_error(const RoutePlan& plan, int retry_after_s) {
  std::string message = "no route can serve this request now:";
  for (const std::string& why : plan.excluded) message += " " + why + ";";
  message.pop_back();
  return Error::unavailable(std::move(message), retry_after_s);
}

}  // namespace

double expected_cost_usd(const pricing::RouteEntry& route, std::int64_t prompt_tokens, std::int64_t completion_tokens) {
  return (static_cast<double>(prompt_tokens) * route.usd_per_mtok_input + static_cast<double>(completion_tokens) * route.usd_per_mtok_output) / 1e6;
}

Result<RoutePlan> plan_routes(const ChatRequest& request, const RoutingContext& context, const RoutingOptions& options) {
  ChainBuilder builder(request, context, options);
  std::vector<std::string> requested = request.requested_models();
  bool any_known = false;
  for (const std::string& model : requested) any_known = builder.add_model(model) || any_known;
  if (!any_known) return builder.other_kind() ? wrong_kind_error(*builder.other_kind()) : no_model_error(requested);
  RoutePlan plan = builder.finish();
  if (plan.chain.empty()) return nothing_eligible_error(plan, options.retry_after_s);
  return plan;
}

}  // namespace mg::gateway
