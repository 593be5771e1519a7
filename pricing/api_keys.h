// Client API keys in SQLite: who may call the gateway, with which models, how fast and for how much.
// Only a SHA-256 of each key's secret is stored; the key itself is shown once, when it is created.
// The gateway keeps these rows in memory (gateway/access_control.h) and re-reads them when
// keys_version() moves, so keys created or revoked by the CLI take effect in a running server.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pricing/database.h"

namespace mg::pricing {

// What a key may do; every limit is optional (unset: unlimited).
struct KeyLimits {
  std::optional<double> budget_usd_day;    // per UTC day
  std::optional<double> budget_usd_month;  // per UTC calendar month
  std::optional<double> budget_usd_total;  // over the key's life
  std::optional<std::int64_t> requests_per_minute;
  std::optional<std::int64_t> tokens_per_minute;  // prompt and completion tokens together
  std::vector<std::string> allowed_models;        // empty: every model

  bool allows_model(const std::string& model) const;
};

struct ApiKeyRecord {
  std::string id;             // public, as in "key_3f9a0c12d4e5": the ledger, logs and metrics name keys by it
  std::string name;           // the operator's label
  std::string secret_sha256;  // lowercase hex
  std::int64_t created_at_ms = 0;
  std::optional<std::int64_t> revoked_at_ms;
  KeyLimits limits;

  bool revoked() const { return revoked_at_ms.has_value(); }
};

void insert_api_key(Database& db, const ApiKeyRecord& key);
// Marks the key revoked at `now_ms`. False when no unrevoked key has that id.
bool revoke_api_key(Database& db, const std::string& id, std::int64_t now_ms);
std::vector<ApiKeyRecord> load_api_keys(const Database& db);
// Bumped by every change to the keys table (triggers), for pollers in other processes.
std::int64_t keys_version(const Database& db);

// What each key has spent according to the ledger, in the windows its budgets use.
struct KeySpend {
  double day_usd = 0;    // since day_start_ms
  double month_usd = 0;  // since month_start_ms
  double total_usd = 0;
};
std::map<std::string, KeySpend> load_key_spend(const Database& db, std::int64_t day_start_ms, std::int64_t month_start_ms);

// The start of the UTC day and of the UTC calendar month that hold `unix_ms`.
std::int64_t utc_day_start_ms(std::int64_t unix_ms);
std::int64_t utc_month_start_ms(std::int64_t unix_ms);

}  // namespace mg::pricing
