#include "tools/catalogue_command.h"

#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tools/catalogue_import.h"
#include "tools/cli_options.h"
#include "tools/text_table.h"

namespace mg::tools {
namespace {

const char* const kHelp =
    "Usage: modelgate catalogue [--db PATH|URL] COMMAND [arguments]\n"
    "\n"
    "Edits the pricing catalogue in the gateway's database: a SQLite file (default ./modelgate.db) or a\n"
    "postgresql:// URL. Every running gateway on that database picks the change up within its poll interval.\n"
    "\n"
    "Commands:\n"
    "  list                                   every route with its price, context, figures and state\n"
    "  import FILE                            OpenRouter's /api/v1/models JSON, or CSV (see export); one\n"
    "                                         transaction: a bad row names its line and changes nothing\n"
    "         [--provider NAME]               provider for the routes of an OpenRouter listing (openrouter)\n"
    "  export [--format csv|json]             the catalogue on stdout (CSV imports back as it is)\n"
    "  set-price MODEL PROVIDER IN OUT        USD per million input and output tokens\n"
    "  enable NAME | disable NAME             a provider, a model, or one route as PROVIDER/MODEL\n"
    "  --help                                 show this help\n";

struct Options {
  std::string db_path = "modelgate.db";
  std::vector<std::string> positional;
  std::string format = "csv";
  std::string openrouter_provider = "openrouter";
};

int usage_error(const std::string& message) { return cli_usage_error("modelgate catalogue", message); }

std::string figure(const std::optional<double>& published, const std::optional<double>& measured) {
  auto show = [](const std::optional<double>& value) { return value ? format_number(*value, 0) : std::string("-"); };
  return show(published) + " / " + show(measured);
}

int list(pricing::Database& db) {
  pricing::CatalogueData data = pricing::load_catalogue(db);
  TextTable table({"MODEL", "PROVIDER", "IN $/M", "OUT $/M", "CONTEXT", "QUANT", "TTFT ms pub/meas", "TOK/S pub/meas", "STATE"});
  std::map<std::string, bool> provider_enabled;
  for (const auto& provider : data.providers) provider_enabled[provider.name] = provider.enabled;
  for (const pricing::RouteRecord& route : data.routes) {
    bool enabled = route.enabled && provider_enabled[route.provider];
    table.add({route.model_id, route.provider, format_number(route.usd_per_mtok_input, 2), format_number(route.usd_per_mtok_output, 2),
               std::to_string(route.context_length), route.quantization.empty() ? "-" : route.quantization,
               figure(route.published_ttft_ms, route.measured_ttft_ms), figure(route.published_throughput_tok_s, route.measured_throughput_tok_s),
               enabled ? "enabled" : "disabled"});
  }
  std::fputs(table.render().c_str(), stdout);
  std::printf("%zu routes, %zu models, %zu providers\n", data.routes.size(), data.models.size(), data.providers.size());
  return 0;
}

int import_file(pricing::Database& db, const Options& options) {
  if (options.positional.size() != 2) return usage_error("import needs one FILE");
  const std::string& path = options.positional[1];
  std::ifstream file(path, std::ios::binary);
  if (!file) return usage_error("cannot read '" + path + "'");
  std::ostringstream text;
  text << file.rdbuf();
  auto result = import_catalogue(db, text.str(), ImportOptions{options.openrouter_provider});
  if (auto error = std::get_if<ImportError>(&result)) {
    std::string where;
    if (error->line > 0) where.append(":").append(std::to_string(error->line));
    std::fprintf(stderr, "modelgate catalogue: %s%s: %s; nothing was imported\n", path.c_str(), where.c_str(), error->message.c_str());
    return 1;
  }
  std::printf("imported %zu routes from %s\n", std::get<std::size_t>(result), path.c_str());
  return 0;
}

nlohmann::json catalogue_json(const pricing::CatalogueData& data) {
  auto optional = [](const std::optional<double>& value) { return value ? nlohmann::json(*value) : nlohmann::json(nullptr); };
  nlohmann::json out = {{"providers", nlohmann::json::array()}, {"models", nlohmann::json::array()}, {"routes", nlohmann::json::array()}};
  for (const auto& p : data.providers) {
    out["providers"].push_back({{"name", p.name}, {"base_url", p.base_url}, {"api_key_env", p.api_key_env}, {"dialect", p.dialect}, {"enabled", p.enabled}});
  }
  for (const auto& m : data.models) {
    out["models"].push_back({{"id", m.id}, {"family", m.family}, {"context_length", m.context_length}, {"supports_tools", m.supports_tools},
                             {"supports_json", m.supports_json}, {"kind", pricing::to_string(m.kind)}, {"aliases", m.aliases}});
  }
  for (const auto& r : data.routes) {
    out["routes"].push_back({{"model", r.model_id}, {"provider", r.provider}, {"upstream_model", r.upstream_model_id},
                             {"usd_per_mtok_input", r.usd_per_mtok_input}, {"usd_per_mtok_output", r.usd_per_mtok_output},
                             {"context_length", r.context_length}, {"quantization", r.quantization},
                             {"published_ttft_ms", optional(r.published_ttft_ms)}, {"published_throughput_tok_s", optional(r.published_throughput_tok_s)},
                             {"measured_ttft_ms", optional(r.measured_ttft_ms)}, {"measured_throughput_tok_s", optional(r.measured_throughput_tok_s)},
                             {"measured_success_rate", optional(r.measured_success_rate)}, {"measured_samples", r.measured_samples},
                             {"enabled", r.enabled}});
  }
  return out;
}

int export_catalogue(pricing::Database& db, const Options& options) {
  pricing::CatalogueData data = pricing::load_catalogue(db);
  if (options.format == "json") std::cout << catalogue_json(data).dump(2) << "\n";
  else if (options.format == "csv") std::cout << export_routes_csv(data);
  else return usage_error("--format must be csv or json; got '" + options.format + "'");
  return 0;
}

std::optional<double> parse_price(const std::string& text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

int set_price(pricing::Database& db, const Options& options) {
  if (options.positional.size() != 5) return usage_error("set-price needs MODEL PROVIDER IN OUT");
  const auto& args = options.positional;
  auto input = parse_price(args[3]);
  auto output = parse_price(args[4]);
  if (!input || !output) return usage_error("prices must be non-negative numbers (USD per million tokens)");
  if (!pricing::set_route_price(db, args[1], args[2], *input, *output)) {
    std::fprintf(stderr, "modelgate catalogue: no route %s/%s\n", args[2].c_str(), args[1].c_str());
    return 1;
  }
  std::printf("%s/%s now costs $%s in, $%s out per million tokens\n", args[2].c_str(), args[1].c_str(), args[3].c_str(), args[4].c_str());
  return 0;
}

int set_enabled(pricing::Database& db, const Options& options, bool enabled) {
  if (options.positional.size() != 2) return usage_error(options.positional[0] + " needs one NAME");
  if (!pricing::set_enabled(db, options.positional[1], enabled)) {
    std::fprintf(stderr, "modelgate catalogue: no provider, model or route named '%s'\n", options.positional[1].c_str());
    return 1;
  }
  std::printf("%s %s\n", enabled ? "enabled" : "disabled", options.positional[1].c_str());
  return 0;
}

std::optional<int> parse_options(const std::vector<std::string>& args, Options& options) {
  CliSpec spec{"modelgate catalogue", kHelp,
               {{"--db", &options.db_path}, {"--format", &options.format}, {"--provider", &options.openrouter_provider}}};
  if (auto exit_code = parse_cli(args, spec, options.positional)) return exit_code;
  if (options.positional.empty()) return usage_error("a command is needed");
  return std::nullopt;
}

}  // namespace

int run_catalogue_command(const std::vector<std::string>& args) {
  Options options;
  if (auto exit_code = parse_options(args, options)) return *exit_code;
  const std::string& command = options.positional[0];
  try {
    pricing::Database db = pricing::Database::open(options.db_path);
    if (command == "list") return list(db);
    if (command == "import") return import_file(db, options);
    if (command == "export") return export_catalogue(db, options);
    if (command == "set-price") return set_price(db, options);
    if (command == "enable" || command == "disable") return set_enabled(db, options, command == "enable");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "modelgate catalogue: %s\n", e.what());
    return 1;
  }
  return usage_error("unknown command '" + command + "'");
}

}  // namespace mg::tools
