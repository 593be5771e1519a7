#include "pricing/api_keys.h"

#include <algorithm>
#include <chrono>

namespace mg::pricing {
namespace {

using std::chrono::milliseconds;
using std::chrono::sys_days;

std::optional<std::int64_t> optional_integer(const Statement& row, int column) {
  if (row.is_null(column)) return std::nullopt;
  return row.integer(column);
}

std::int64_t to_unix_ms(sys_days day) { return std::chrono::duration_cast<milliseconds>(day.time_since_epoch()).count(); }

sys_days day_of(std::int64_t unix_ms) {
  return std::chrono::floor<std::chrono::days>(std::chrono::sys_time<milliseconds>(milliseconds(unix_ms)));
}

std::map<std::string, std::vector<std::string>> load_allowed_models(const Database& db) {
  std::map<std::string, std::vector<std::string>> models;
  Statement query = db.prepare("SELECT key_id, model FROM api_key_models ORDER BY key_id, model");
  while (query.step()) models[query.text(0)].push_back(query.text(1));
  return models;
}

}  // namespace

bool KeyLimits::allows_model(const std::string& model) const {
  return allowed_models.empty() || std::find(allowed_models.begin(), allowed_models.end(), model) != allowed_models.end();
}

void insert_api_key(Database& db, const ApiKeyRecord& key) {
  Transaction transaction(db);
  const KeyLimits& limits = key.limits;
  db.prepare("INSERT INTO api_keys(id, name, secret_sha256, created_at_ms, revoked_at_ms, budget_usd_day, budget_usd_month,"
             " budget_usd_total, requests_per_minute, tokens_per_minute) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
      .bind(1, key.id).bind(2, key.name).bind(3, key.secret_sha256).bind(4, key.created_at_ms).bind(5, key.revoked_at_ms)
      .bind(6, limits.budget_usd_day).bind(7, limits.budget_usd_month).bind(8, limits.budget_usd_total)
      .bind(9, limits.requests_per_minute).bind(10, limits.tokens_per_minute)
      .run();
  Statement model = db.prepare("INSERT INTO api_key_models(key_id, model) VALUES (?1, ?2)");
  for (const std::string& name : limits.allowed_models) model.bind(1, key.id).bind(2, name).run();
  transaction.commit();
}

bool revoke_api_key(Database& db, const std::string& id, std::int64_t now_ms) {
  Statement update = db.prepare("UPDATE api_keys SET revoked_at_ms = ?2 WHERE id = ?1 AND revoked_at_ms IS NULL RETURNING id");
  update.bind(1, id).bind(2, now_ms);
  bool revoked = update.step();
  update.reset();
  return revoked;
}

std::vector<ApiKeyRecord> load_api_keys(const Database& db) {
  std::map<std::string, std::vector<std::string>> allowed = load_allowed_models(db);
  Statement query = db.prepare(
      "SELECT id, name, secret_sha256, created_at_ms, revoked_at_ms, budget_usd_day, budget_usd_month, budget_usd_total,"
      " requests_per_minute, tokens_per_minute FROM api_keys ORDER BY created_at_ms, id");
  std::vector<ApiKeyRecord> keys;
  while (query.step()) {
    ApiKeyRecord key;
    key.id = query.text(0);
    key.name = query.text(1);
    key.secret_sha256 = query.text(2);
    key.created_at_ms = query.integer(3);
    key.revoked_at_ms = optional_integer(query, 4);
    key.limits.budget_usd_day = query.optional_real(5);
    key.limits.budget_usd_month = query.optional_real(6);
    key.limits.budget_usd_total = query.optional_real(7);
    key.limits.requests_per_minute = optional_integer(query, 8);
    key.limits.tokens_per_minute = optional_integer(query, 9);
    if (auto models = allowed.find(key.id); models != allowed.end()) key.limits.allowed_models = std::move(models->second);
    keys.push_back(std::move(key));
  }
  return keys;
}

std::int64_t keys_version(const Database& db) { return db.meta_counter("keys_version"); }

std::map<std::string, KeySpend> load_key_spend(const Database& db, std::int64_t day_start_ms, std::int64_t month_start_ms) {
  Statement query = db.prepare(
      "SELECT api_key_id, SUM(CASE WHEN created_at_ms >= ?1 THEN cost_usd ELSE 0 END),"
      " SUM(CASE WHEN created_at_ms >= ?2 THEN cost_usd ELSE 0 END), SUM(cost_usd)"
      " FROM usage_ledger WHERE api_key_id != '' GROUP BY api_key_id");
  query.bind(1, day_start_ms).bind(2, month_start_ms);
  std::map<std::string, KeySpend> spend;
  while (query.step()) spend[query.text(0)] = KeySpend{query.real(1), query.real(2), query.real(3)};
  return spend;
}

std::int64_t utc_day_start_ms(std::int64_t unix_ms) { return to_unix_ms(day_of(unix_ms)); }

std::int64_t utc_month_start_ms(std::int64_t unix_ms) {
  std::chrono::year_month_day date(day_of(unix_ms));
  return to_unix_ms(sys_days(date.year() / date.month() / 1));
}

}  // namespace mg::pricing
