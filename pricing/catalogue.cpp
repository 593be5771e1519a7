#include "pricing/catalogue.h"

#include <map>
#include <stdexcept>


namespace mg::pricing {
namespace {

std::vector<ProviderRecord> load_providers(const Database& db) {
  std::vector<ProviderRecord> out;
  Statement query = db.prepare("SELECT name, base_url, api_key_env, dialect, enabled FROM providers ORDER BY name");
  while (query.step()) {
    out.push_back(ProviderRecord{query.text(0), query.text(1), query.text(2), query.text(3), query.integer(4) != 0});
  }
  return out;
}

std::vector<ModelRecord> load_models(const Database& db) {
  std::vector<ModelRecord> out;
  std::map<std::string, std::size_t> index;
  Statement query = db.prepare("SELECT id, family, context_length, supports_tools, supports_json, kind FROM models ORDER BY id");
  while (query.step()) {
    index[query.text(0)] = out.size();
    out.push_back(ModelRecord{query.text(0), query.text(1), static_cast<int>(query.integer(2)), query.integer(3) != 0,
                              query.integer(4) != 0, {}, model_kind_named(query.text(5)).value_or(ModelKind::chat)});
  }
  Statement aliases = db.prepare("SELECT alias, model_id FROM model_aliases ORDER BY alias");
  while (aliases.step()) out[index.at(aliases.text(1))].aliases.push_back(aliases.text(0));
  return out;
}

std::vector<RouteRecord> load_routes(const Database& db) {
  std::vector<RouteRecord> out;
  Statement query = db.prepare(
      "SELECT id, model_id, provider, upstream_model_id, usd_per_mtok_input, usd_per_mtok_output, context_length, quantization,"
      " published_ttft_ms, published_throughput_tok_s, measured_ttft_ms, measured_throughput_tok_s, measured_success_rate,"
      " measured_samples, enabled FROM routes ORDER BY model_id, provider");
  while (query.step()) {
    RouteRecord route;
    route.id = query.integer(0);
    route.model_id = query.text(1);
    route.provider = query.text(2);
    route.upstream_model_id = query.text(3);
    route.usd_per_mtok_input = query.real(4);
    route.usd_per_mtok_output = query.real(5);
    route.context_length = static_cast<int>(query.integer(6));
    route.quantization = query.text(7);
    route.published_ttft_ms = query.optional_real(8);
    route.published_throughput_tok_s = query.optional_real(9);
    route.measured_ttft_ms = query.optional_real(10);
    route.measured_throughput_tok_s = query.optional_real(11);
    route.measured_success_rate = query.optional_real(12);
    route.measured_samples = query.integer(13);
    route.enabled = query.integer(14) != 0;
    out.push_back(std::move(route));
  }
  return out;
}

void run_named(Statement& statement, const std::string& what) {
  try {
    statement.run();
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(what + ": " + e.what());
  }
}

}  // namespace

const char* to_string(ModelKind kind) { return kind == ModelKind::embedding ? "embedding" : "chat"; }

std::optional<ModelKind> model_kind_named(std::string_view name) {
  if (name == "chat") return ModelKind::chat;
  if (name == "embedding") return ModelKind::embedding;
  return std::nullopt;
}

std::int64_t catalogue_version(const Database& db) { return db.meta_counter("catalogue_version"); }

CatalogueData load_catalogue(const Database& db) { return CatalogueData{load_providers(db), load_models(db), load_routes(db)}; }

void upsert_provider(Database& db, const ProviderRecord& provider) {
  Statement upsert = db.prepare(
      "INSERT INTO providers(name, base_url, api_key_env, dialect, enabled) VALUES (?1, ?2, ?3, ?4, ?5)"
      " ON CONFLICT(name) DO UPDATE SET base_url = ?2, api_key_env = ?3, dialect = ?4, enabled = ?5");
  upsert.bind(1, provider.name).bind(2, provider.base_url).bind(3, provider.api_key_env).bind(4, provider.dialect).bind(5, provider.enabled);
  run_named(upsert, "provider '" + provider.name + "'");
}

void upsert_model(Database& db, const ModelRecord& model) {
  Statement upsert = db.prepare(
      "INSERT INTO models(id, family, context_length, supports_tools, supports_json, kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
      " ON CONFLICT(id) DO UPDATE SET family = ?2, context_length = ?3, supports_tools = ?4, supports_json = ?5, kind = ?6");
  upsert.bind(1, model.id).bind(2, model.family).bind(3, model.context_length).bind(4, model.supports_tools).bind(5, model.supports_json)
      .bind(6, to_string(model.kind));
  run_named(upsert, "model '" + model.id + "'");
  Statement alias = db.prepare("INSERT INTO model_aliases(alias, model_id) VALUES (?1, ?2) ON CONFLICT(alias) DO UPDATE SET model_id = ?2");
  for (const std::string& name : model.aliases) {
    alias.bind(1, name).bind(2, model.id);
    run_named(alias, "alias '" + name + "' of model '" + model.id + "'");
  }
}

void upsert_route(Database& db, const RouteRecord& route) {
  Statement upsert = db.prepare(
      "INSERT INTO routes(model_id, provider, upstream_model_id, usd_per_mtok_input, usd_per_mtok_output, context_length,"
      " quantization, published_ttft_ms, published_throughput_tok_s, enabled) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
      " ON CONFLICT(model_id, provider) DO UPDATE SET upstream_model_id = ?3, usd_per_mtok_input = ?4, usd_per_mtok_output = ?5,"
      " context_length = ?6, quantization = ?7, published_ttft_ms = ?8, published_throughput_tok_s = ?9, enabled = ?10");
  upsert.bind(1, route.model_id).bind(2, route.provider).bind(3, route.upstream_model_id).bind(4, route.usd_per_mtok_input)
      .bind(5, route.usd_per_mtok_output).bind(6, route.context_length).bind(7, route.quantization).bind(8, route.published_ttft_ms)
      .bind(9, route.published_throughput_tok_s).bind(10, route.enabled);
  run_named(upsert, "route " + route.provider + "/" + route.model_id);
}

bool set_route_price(Database& db, const std::string& model_id, const std::string& provider, double usd_per_mtok_input,
                     double usd_per_mtok_output) {
  Statement update = db.prepare("UPDATE routes SET usd_per_mtok_input = ?3, usd_per_mtok_output = ?4 WHERE model_id = ?1 AND provider = ?2");
  update.bind(1, model_id).bind(2, provider).bind(3, usd_per_mtok_input).bind(4, usd_per_mtok_output);
  run_named(update, "route " + provider + "/" + model_id);
  return db.changes() > 0;
}

bool set_enabled(Database& db, const std::string& name, bool enabled) {
  auto slash = name.find('/');
  if (slash != std::string::npos) {
    Statement update = db.prepare("UPDATE routes SET enabled = ?3 WHERE provider = ?1 AND model_id = ?2");
    update.bind(1, name.substr(0, slash)).bind(2, name.substr(slash + 1)).bind(3, enabled);
    update.run();
    if (db.changes() > 0) return true;
  }
  Statement provider = db.prepare("UPDATE providers SET enabled = ?2 WHERE name = ?1");
  provider.bind(1, name).bind(2, enabled);
  provider.run();
  if (db.changes() > 0) return true;
  Statement model = db.prepare("UPDATE routes SET enabled = ?2 WHERE model_id = ?1");
  model.bind(1, name).bind(2, enabled);
  model.run();
  return db.changes() > 0;
}

}  // namespace mg::pricing
