// An immutable, indexed copy of the catalogue for routing: built off the request path, shared by
// shared_ptr, swapped atomically when the catalogue changes. Nothing in it is ever mutated.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pricing/catalogue.h"

namespace mg::pricing {

struct RouteEntry {
  std::int64_t route_id = 0;  // the routes table's id; negative for in-process routes
  std::string model_id;
  std::string provider;
  std::string upstream_model_id;
  std::string name;  // "provider/model_id"
  double usd_per_mtok_input = 0;
  double usd_per_mtok_output = 0;
  int context_length = 0;
  std::string quantization;
  std::optional<double> published_ttft_ms;
  std::optional<double> published_throughput_tok_s;
  bool supports_tools = false;
  bool supports_json = false;
  bool enabled = true;        // the route and its provider are enabled
  std::string unavailable;    // why it cannot be used now (no adapter, no API key); '' when it can
  bool last_resort = false;   // the local engine: always at the end of a chain
  std::string description;    // in-process routes: what /v1/models says of them
};

struct ModelEntry {
  std::string id;
  int context_length = 0;
  bool supports_tools = false;
  bool supports_json = false;
  std::vector<std::uint32_t> routes;  // indexes into CatalogueSnapshot::routes()
  ModelKind kind = ModelKind::chat;
};

// A route served in-process (fake provider, local engine), added to the catalogue's own routes.
struct BuiltinRoute {
  RouteEntry route;
  int model_context_length = 0;
  ModelKind model_kind = ModelKind::chat;
};

// Why a provider cannot be used now, or '' when it can (checked once per snapshot, not per request).
using ProviderCheck = std::function<std::string(const ProviderRecord&)>;

class CatalogueSnapshot {
 public:
  static std::shared_ptr<const CatalogueSnapshot> build(const CatalogueData& data, const std::vector<BuiltinRoute>& builtins,
                                                        const ProviderCheck& check, std::uint64_t version);

  // By id or alias; nullptr when unknown.
  const ModelEntry* find_model(std::string_view id_or_alias) const;
  const std::vector<RouteEntry>& routes() const { return routes_; }
  const std::vector<ModelEntry>& models() const { return models_; }
  std::uint64_t version() const { return version_; }

 private:
  std::vector<RouteEntry> routes_;
  std::vector<ModelEntry> models_;
  std::unordered_map<std::string, std::uint32_t> model_by_name_;  // ids and aliases -> models_ index
  std::uint64_t version_ = 0;
};

// Holds the current snapshot; readers never block writers or each other for long.
class SnapshotHolder {
 public:
  explicit SnapshotHolder(std::shared_ptr<const CatalogueSnapshot> initial) : current_(std::move(initial)) {}
  std::shared_ptr<const CatalogueSnapshot> get() const { return current_.load(std::memory_order_acquire); }
  void swap_in(std::shared_ptr<const CatalogueSnapshot> next) { current_.store(std::move(next), std::memory_order_release); }

 private:
  std::atomic<std::shared_ptr<const CatalogueSnapshot>> current_;
};

}  // namespace mg::pricing
