#include "tools/keys_command.h"

#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

#include "gateway/exchange_accounting.h"
#include "gateway/key_admin.h"
#include "pricing/api_keys.h"
#include "pricing/ledger.h"
#include "tools/cli_options.h"
#include "tools/text_table.h"

namespace mg::tools {
namespace {

using nlohmann::json;

const char* const kKeysHelp =
    "Usage: modelgate keys [--db PATH|URL] COMMAND [options]\n"
    "\n"
    "Manages the client API keys of the gateway's database (a SQLite file, default ./modelgate.db, or a\n"
    "postgresql:// URL). Once any key exists,\n"
    "every request to /v1 needs one ('Authorization: Bearer <key>'); a running gateway sees changes within a second.\n"
    "\n"
    "Commands:\n"
    "  create [--name NAME] [--budget-day USD] [--budget-month USD] [--budget-total USD]\n"
    "         [--rpm N] [--tpm N] [--models MODEL,MODEL...]\n"
    "                    a new key, printed once: only its SHA-256 is stored\n"
    "  list              every key with its limits and what it has spent (UTC day and month)\n"
    "  revoke ID         the key answers 403 from now on\n"
    "  --help            show this help\n";

const char* const kUsageHelp =
    "Usage: modelgate usage [--db PATH|URL] [--group-by model|route|key|day] [--from-ms MS] [--to-ms MS]\n"
    "\n"
    "The usage ledger's requests, tokens, cost and timings, grouped (by model unless told otherwise),\n"
    "between two Unix times in milliseconds (default: all of it).\n";

// The create flags and the admin API's members they stand for: one validation serves both.
struct KeyFlag {
  const char* flag;
  const char* member;
  bool is_number;
};
constexpr KeyFlag kKeyFlags[] = {
    {"--name", "name", false},         {"--budget-day", "budget_usd_day", true}, {"--budget-month", "budget_usd_month", true},
    {"--budget-total", "budget_usd_total", true}, {"--rpm", "requests_per_minute", true}, {"--tpm", "tokens_per_minute", true},
    {"--models", "allowed_models", false},
};

std::string flag_for(const std::string& member) {
  for (const KeyFlag& flag : kKeyFlags) {
    if (member.starts_with(flag.member)) return flag.flag;
  }
  return member;
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = std::min(text.find(',', start), text.size());
    parts.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return parts;
}

std::string format_optional(const std::optional<double>& value, int decimals) { return value ? format_number(*value, decimals) : "-"; }

std::string utc_date(std::int64_t unix_ms) {
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[24];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M", &utc);
  return text;
}

int create(pricing::Database& db, const std::map<std::string, std::string>& values) {
  json spec = json::object();
  for (const KeyFlag& flag : kKeyFlags) {
    auto value = values.find(flag.flag);
    if (value == values.end() || value->second.empty()) continue;
    if (!flag.is_number) {
      spec[flag.member] = std::string(flag.member) == "allowed_models" ? json(split_commas(value->second)) : json(value->second);
      continue;
    }
    json number = json::parse(value->second, nullptr, false);
    if (!number.is_number()) return cli_usage_error("modelgate keys", std::string(flag.flag) + " must be a number; got '" + value->second + "'");
    spec[flag.member] = number;
  }
  Result<gateway::KeySpec> parsed = gateway::parse_key_spec(spec.dump());
  if (!parsed) return cli_usage_error("modelgate keys", flag_for(parsed.error().param) + ": " + parsed.error().message);
  gateway::CreatedKey created = gateway::create_api_key(db, *parsed, gateway::unix_now_ms());
  std::printf("created %s%s\n%s\n", created.record.id.c_str(), spec.contains("name") ? (" (" + spec["name"].get<std::string>() + ")").c_str() : "",
              created.key.c_str());
  std::fputs("Keep the key now: only its SHA-256 is stored, it cannot be shown again.\n", stderr);
  return 0;
}

int list(pricing::Database& db) {
  const std::int64_t now = gateway::unix_now_ms();
  auto spent = pricing::load_key_spend(db, pricing::utc_day_start_ms(now), pricing::utc_month_start_ms(now));
  TextTable table({"ID", "NAME", "CREATED (UTC)", "STATE", "TODAY $ / BUDGET", "MONTH $ / BUDGET", "TOTAL $ / BUDGET", "RPM", "TPM", "MODELS"});
  std::vector<pricing::ApiKeyRecord> keys = pricing::load_api_keys(db);
  for (const pricing::ApiKeyRecord& key : keys) {
    const pricing::KeySpend spend = spent.count(key.id) ? spent[key.id] : pricing::KeySpend{};
    const pricing::KeyLimits& limits = key.limits;
    auto against = [](double used, const std::optional<double>& budget) { return format_number(used, 6) + " / " + format_optional(budget, 6); };
    auto per_minute = [](const std::optional<std::int64_t>& rate) { return rate ? std::to_string(*rate) : std::string("-"); };
    std::string models;
    for (const std::string& model : limits.allowed_models) models += (models.empty() ? "" : ",") + model;
    table.add({key.id, key.name.empty() ? "-" : key.name, utc_date(key.created_at_ms), key.revoked() ? "revoked" : "active",
               against(spend.day_usd, limits.budget_usd_day), against(spend.month_usd, limits.budget_usd_month),
               against(spend.total_usd, limits.budget_usd_total), per_minute(limits.requests_per_minute), per_minute(limits.tokens_per_minute),
               models.empty() ? "all" : models});
  }
  std::fputs(table.render().c_str(), stdout);
  std::printf("%zu keys\n", keys.size());
  return 0;
}

int revoke(pricing::Database& db, const std::vector<std::string>& positional) {
  if (positional.size() != 2) return cli_usage_error("modelgate keys", "revoke needs one ID");
  if (!pricing::revoke_api_key(db, positional[1], gateway::unix_now_ms())) {
    std::fprintf(stderr, "modelgate keys: no key '%s' that is not already revoked\n", positional[1].c_str());
    return 1;
  }
  std::printf("revoked %s\n", positional[1].c_str());
  return 0;
}

std::optional<std::int64_t> parse_ms(const std::string& text) {
  if (text.empty()) return std::nullopt;
  return std::stoll(text);
}

}  // namespace

int run_keys_command(const std::vector<std::string>& args) {
  std::string db_path = "modelgate.db";
  std::map<std::string, std::string> values;
  CliSpec spec{"modelgate keys", kKeysHelp, {{"--db", &db_path}}};
  for (const KeyFlag& flag : kKeyFlags) spec.flags[flag.flag] = &values[flag.flag];
  std::vector<std::string> positional;
  if (auto exit_code = parse_cli(args, spec, positional)) return *exit_code;
  if (positional.empty()) return cli_usage_error(spec.command, "a command is needed: create, list or revoke");
  const std::string& command = positional[0];
  try {
    pricing::Database db = pricing::Database::open(db_path);
    if (command == "create") return create(db, values);
    if (command == "list") return list(db);
    if (command == "revoke") return revoke(db, positional);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "modelgate keys: %s\n", e.what());
    return 1;
  }
  return cli_usage_error(spec.command, "unknown command '" + command + "'");
}

int run_usage_command(const std::vector<std::string>& args) {
  std::string db_path = "modelgate.db", group_by = "model", from_ms, to_ms;
  CliSpec spec{"modelgate usage", kUsageHelp, {{"--db", &db_path}, {"--group-by", &group_by}, {"--from-ms", &from_ms}, {"--to-ms", &to_ms}}};
  std::vector<std::string> positional;
  if (auto exit_code = parse_cli(args, spec, positional)) return *exit_code;
  if (!positional.empty()) return cli_usage_error(spec.command, "unexpected argument '" + positional[0] + "'");
  const std::map<std::string, pricing::UsageGrouping> groupings = {
      {"model", pricing::UsageGrouping::model}, {"route", pricing::UsageGrouping::route},
      {"key", pricing::UsageGrouping::key},     {"day", pricing::UsageGrouping::day}};
  auto grouping = groupings.find(group_by);
  if (grouping == groupings.end()) return cli_usage_error(spec.command, "--group-by must be model, route, key or day; got '" + group_by + "'");
  try {
    pricing::UsageFilter filter{parse_ms(from_ms), parse_ms(to_ms), grouping->second, std::nullopt};
    pricing::Database db = pricing::Database::open(db_path);
    TextTable table({group_by == "key" ? "KEY" : group_by == "day" ? "DAY (UTC)" : group_by == "route" ? "ROUTE" : "MODEL", "REQUESTS", "FAILED",
                     "PROMPT TOK", "COMPLETION TOK", "COST $", "AVG TTFT ms", "AVG DURATION ms"});
    double total_cost = 0;
    std::int64_t total_requests = 0;
    for (const pricing::UsageRow& row : pricing::query_usage(db, filter)) {
      table.add({row.group.empty() ? "-" : row.group, std::to_string(row.requests), std::to_string(row.failed_requests), std::to_string(row.prompt_tokens),
                 std::to_string(row.completion_tokens), format_number(row.cost_usd, 6), format_optional(row.average_ttft_ms, 1),
                 format_number(row.average_duration_ms, 1)});
      total_cost += row.cost_usd;
      total_requests += row.requests;
    }
    std::fputs(table.render().c_str(), stdout);
    std::printf("%lld requests, $%s\n", static_cast<long long>(total_requests), format_number(total_cost, 6).c_str());
  } catch (const std::exception& e) {  // a bad --from-ms, or SQLite
    std::fprintf(stderr, "modelgate usage: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace mg::tools
