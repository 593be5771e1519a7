// The routing side of a running gateway: the providers it can call, the current catalogue snapshot
// (swapped atomically on reload) and the live statistics. route() is what a request uses: it reads the
// snapshot and the stats, never SQLite.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/circuit_breakers.h"
#include "gateway/router.h"
#include "pricing/catalogue_snapshot.h"
#include "pricing/database.h"
#include "pricing/live_stats.h"
#include "providers/provider.h"

namespace mg::gateway {

enum class Audience { client, operator_ };

// A route an exchange can call: its catalogue entry and the provider serving it.
struct RouteTarget {
  const pricing::RouteEntry* entry;  // valid while the snapshot that holds it lives
  std::shared_ptr<Provider> provider;

  const std::string& name() const { return entry->name; }
  double cost_usd(const UsageReport& usage) const;
};

struct RoutedRequest {
  std::shared_ptr<const pricing::CatalogueSnapshot> snapshot;  // keeps every entry in `chain` alive
  std::vector<RouteTarget> chain;
};

class RoutingState {
 public:
  // `in_process` providers (the fake provider, the local engine) add their own models as routes;
  // `remote` providers serve the catalogue's routes of the provider with the same name.
  // `unusable` names catalogue providers that got no client, and why (shown as the routes' reason).
  RoutingState(std::vector<std::shared_ptr<Provider>> in_process, std::vector<std::shared_ptr<Provider>> remote,
               RoutingOptions options = {}, std::map<std::string, std::string> unusable = {}, CircuitOptions circuit = {});

  // Rebuilds the snapshot from the database and swaps it in. Off the request path; throws on SQLite errors.
  void reload(const pricing::Database& db);

  Result<RoutedRequest> route(const ChatRequest& request) const;
  std::shared_ptr<const pricing::CatalogueSnapshot> snapshot() const { return snapshot_.get(); }
  pricing::LiveStats& live_stats() { return live_stats_; }
  CircuitBreakers& circuits() { return circuits_; }
  const pricing::LiveStats& live_stats() const { return live_stats_; }

  // GET /v1/models: OpenAI list shape, each model with its cheapest usable price and every route. Why a
  // route is unavailable is told in full to the operator only.
  nlohmann::json models_json(Audience audience) const;
  // Every route of the snapshot with its prices, published and measured figures and circuit state.
  nlohmann::json routes_json() const;

 private:
  std::string unavailable_reason(const pricing::ProviderRecord& provider) const;
  bool failing_in_fleet(const std::string& route) const;
  bool skips(const std::string& route) const;

  std::unordered_map<std::string, std::shared_ptr<Provider>> providers_;  // by provider name
  std::map<std::string, std::string> unusable_;
  std::vector<pricing::BuiltinRoute> builtin_routes_;
  RoutingOptions options_;
  pricing::SnapshotHolder snapshot_;
  pricing::LiveStats live_stats_;
  mutable CircuitBreakers circuits_;
  std::uint64_t next_version_ = 1;
};

}  // namespace mg::gateway
