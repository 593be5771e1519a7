// The catalogue as stored: providers, models (with aliases) and the routes between them. Plain records,
// read from and written to SQLite off the request path; routing reads a CatalogueSnapshot instead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pricing/database.h"

namespace mg::pricing {

struct ProviderRecord {
  std::string name;
  std::string base_url;
  std::string api_key_env;  // '' when the provider needs no key
  std::string dialect = "openai";
  bool enabled = true;
};

// What a model serves: chat (and text completions), or embeddings. A request of one kind never routes to a
// model of the other.
enum class ModelKind { chat, embedding };
const char* to_string(ModelKind kind);
// "chat" or "embedding"; nullopt for anything else.
std::optional<ModelKind> model_kind_named(std::string_view name);

struct ModelRecord {
  std::string id;
  std::string family;
  int context_length = 0;
  bool supports_tools = false;
  bool supports_json = false;
  std::vector<std::string> aliases;
  ModelKind kind = ModelKind::chat;
};

struct RouteRecord {
  std::int64_t id = 0;
  std::string model_id;
  std::string provider;
  std::string upstream_model_id;
  double usd_per_mtok_input = 0;
  double usd_per_mtok_output = 0;
  int context_length = 0;
  std::string quantization;
  std::optional<double> published_ttft_ms;
  std::optional<double> published_throughput_tok_s;
  std::optional<double> measured_ttft_ms;
  std::optional<double> measured_throughput_tok_s;
  std::optional<double> measured_success_rate;
  std::int64_t measured_samples = 0;
  bool enabled = true;
};

struct CatalogueData {
  std::vector<ProviderRecord> providers;
  std::vector<ModelRecord> models;
  std::vector<RouteRecord> routes;  // ordered by model, then provider
};

CatalogueData load_catalogue(const Database& db);

// Bumped by triggers on every catalogue change (not on measured figures).
std::int64_t catalogue_version(const Database& db);

// Upserts, each in the caller's transaction. They throw std::runtime_error naming the record on a
// constraint violation (unknown provider or model, negative price, ...).
void upsert_provider(Database& db, const ProviderRecord& provider);
void upsert_model(Database& db, const ModelRecord& model);
void upsert_route(Database& db, const RouteRecord& route);  // keyed by (model_id, provider)

// Returns false when no such route exists.
bool set_route_price(Database& db, const std::string& model_id, const std::string& provider, double usd_per_mtok_input,
                     double usd_per_mtok_output);
// Enables or disables a provider ("deepinfra"), a model ("mixtral-8x7b-instruct") or one route
// ("deepinfra/mixtral-8x7b-instruct"). Returns false when the name matches nothing.
bool set_enabled(Database& db, const std::string& name, bool enabled);

}  // namespace mg::pricing
