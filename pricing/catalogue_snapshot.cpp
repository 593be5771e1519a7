#include "pricing/catalogue_snapshot.h"


namespace mg::pricing {
namespace {

RouteEntry entry_for(const RouteRecord& record, const ModelRecord& model, const ProviderRecord* provider, const ProviderCheck& check) {
  RouteEntry entry;
  entry.route_id = record.id;
  entry.model_id = record.model_id;
  entry.provider = record.provider;
  entry.upstream_model_id = record.upstream_model_id;
  entry.name = record.provider + "/" + record.model_id;
  entry.usd_per_mtok_input = record.usd_per_mtok_input;
  entry.usd_per_mtok_output = record.usd_per_mtok_output;
  entry.context_length = record.context_length;
  entry.quantization = record.quantization;
  entry.published_ttft_ms = record.published_ttft_ms;
  entry.published_throughput_tok_s = record.published_throughput_tok_s;
  entry.supports_tools = model.supports_tools;
  entry.supports_json = model.supports_json;
  entry.enabled = record.enabled && provider && provider->enabled;
  entry.unavailable = provider ? check(*provider) : "provider '" + record.provider + "' is not in the catalogue";
  return entry;
}

}  // namespace

std::shared_ptr<const CatalogueSnapshot> CatalogueSnapshot::build(const CatalogueData& data, const std::vector<BuiltinRoute>& builtins,
                                                                  const ProviderCheck& check, std::uint64_t version) {
  auto snapshot = std::make_shared<CatalogueSnapshot>();
  snapshot->version_ = version;
  std::unordered_map<std::string, const ProviderRecord*> providers;
  for (const ProviderRecord& provider : data.providers) providers[provider.name] = &provider;
  std::unordered_map<std::string, const ModelRecord*> model_records;
  for (const ModelRecord& model : data.models) {
    model_records[model.id] = &model;
    snapshot->model_by_name_[model.id] = static_cast<std::uint32_t>(snapshot->models_.size());
    snapshot->models_.push_back(ModelEntry{model.id, model.context_length, model.supports_tools, model.supports_json, {}, model.kind});
  }
  for (const ModelRecord& model : data.models) {
    for (const std::string& alias : model.aliases) snapshot->model_by_name_.emplace(alias, snapshot->model_by_name_.at(model.id));
  }
  for (const RouteRecord& record : data.routes) {
    auto model = model_records.find(record.model_id);
    if (model == model_records.end()) continue;  // the schema's foreign key makes this unreachable
    auto provider = providers.find(record.provider);
    snapshot->models_[snapshot->model_by_name_.at(record.model_id)].routes.push_back(static_cast<std::uint32_t>(snapshot->routes_.size()));
    snapshot->routes_.push_back(entry_for(record, *model->second, provider == providers.end() ? nullptr : provider->second, check));
  }
  for (const BuiltinRoute& builtin : builtins) {
    const RouteEntry& route = builtin.route;
    auto [it, added] = snapshot->model_by_name_.emplace(route.model_id, static_cast<std::uint32_t>(snapshot->models_.size()));
    if (added) {
      snapshot->models_.push_back(
          ModelEntry{route.model_id, builtin.model_context_length, route.supports_tools, route.supports_json, {}, builtin.model_kind});
    }
    snapshot->models_[it->second].routes.push_back(static_cast<std::uint32_t>(snapshot->routes_.size()));
    snapshot->routes_.push_back(route);
  }
  return snapshot;
}

const ModelEntry* CatalogueSnapshot::find_model(std::string_view id_or_alias) const {
  auto it = model_by_name_.find(std::string(id_or_alias));
  return it == model_by_name_.end() ? nullptr : &models_[it->second];
}

}  // namespace mg::pricing
