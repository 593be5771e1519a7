#include "gateway/key_admin.h"

#include <boost/asio/post.hpp>

#include "gateway/api_key_secrets.h"
#include "gateway/exchange_accounting.h"
#include "core/json_object_reader.h"
#include "formats/openai_wire.h"

namespace mg::gateway {
namespace {

using nlohmann::json;

constexpr double kMaxBudgetUsd = 1e9;
constexpr std::int64_t kMaxPerMinute = 1'000'000'000;

json optional_json(const auto& value) { return value ? json(*value) : json(nullptr); }

Error database_error(const std::exception& e) {
  return Error{500, FailureClass::transient, "server_error", "database_error", {}, std::string("cannot write the keys table: ") + e.what(), 0};
}

}  // namespace

Result<KeySpec> parse_key_spec(const std::string& json_text) {
  Result<json> document = parse_json_document(json_text);
  if (!document) return document.error();
  KeySpec spec;
  try {
    ObjectReader reader(*document, "");
    spec.name = reader.string("name").value_or("");
    pricing::KeyLimits& limits = spec.limits;
    limits.budget_usd_day = reader.number("budget_usd_day", 0, kMaxBudgetUsd);
    limits.budget_usd_month = reader.number("budget_usd_month", 0, kMaxBudgetUsd);
    limits.budget_usd_total = reader.number("budget_usd_total", 0, kMaxBudgetUsd);
    limits.requests_per_minute = reader.integer("requests_per_minute", 1, kMaxPerMinute);
    limits.tokens_per_minute = reader.integer("tokens_per_minute", 1, kMaxPerMinute);
    limits.allowed_models = reader.string_list("allowed_models");
    for (std::size_t i = 0; i < limits.allowed_models.size(); ++i) {
      if (limits.allowed_models[i].empty()) violate(index_path("allowed_models", i), "must not be empty");
    }
    reader.reject_unread();
  } catch (const SchemaViolation& violation) {
    return violation.error;
  }
  return spec;
}

CreatedKey create_api_key(pricing::Database& db, const KeySpec& spec, std::int64_t now_ms) {
  GeneratedApiKey generated = generate_api_key();
  CreatedKey created;
  created.record.id = generated.id;
  created.record.name = spec.name;
  created.record.secret_sha256 = generated.secret_sha256;
  created.record.created_at_ms = now_ms;
  created.record.limits = spec.limits;
  created.key = std::move(generated.key);
  pricing::insert_api_key(db, created.record);
  return created;
}

json key_json(const pricing::ApiKeyRecord& record, const KeyStatus* status) {
  const pricing::KeyLimits& limits = record.limits;
  json out = {{"id", record.id},
              {"object", "api_key"},
              {"name", record.name},
              {"created_at_ms", record.created_at_ms},
              {"revoked", record.revoked()},
              {"revoked_at_ms", optional_json(record.revoked_at_ms)},
              {"budget_usd_day", optional_json(limits.budget_usd_day)},
              {"budget_usd_month", optional_json(limits.budget_usd_month)},
              {"budget_usd_total", optional_json(limits.budget_usd_total)},
              {"requests_per_minute", optional_json(limits.requests_per_minute)},
              {"tokens_per_minute", optional_json(limits.tokens_per_minute)},
              {"allowed_models", limits.allowed_models}};
  if (status) {
    out["spent_today_usd"] = status->spent.day_usd;
    out["spent_month_usd"] = status->spent.month_usd;
    out["spent_total_usd"] = status->spent.total_usd;
    out["reserved_usd"] = status->reserved_usd;
    out["in_flight"] = status->in_flight;
  }
  return out;
}

json keys_json(const AccessControl& access, std::int64_t now_ms) {
  json keys = json::array();
  for (const KeyStatus& status : access.status(now_ms)) keys.push_back(key_json(status.record, &status));
  return keys;
}

KeyAdmin::KeyAdmin(const std::string& db_path, AccessControl& access) : db_(pricing::Database::open(db_path)), access_(access) {}

KeyAdmin::~KeyAdmin() { pool_.join(); }

void KeyAdmin::reload(const pricing::Database& db) {
  const std::int64_t version = pricing::keys_version(db);  // read first: a later change is reloaded again, never missed
  access_.replace_keys(pricing::load_api_keys(db));
  applied_version_.store(version);
}

void KeyAdmin::run(boost::asio::any_io_executor reply_on, Done done, std::function<Result<json>()> job) {
  boost::asio::post(pool_, [reply_on, done = std::move(done), job = std::move(job)]() mutable {
    Result<json> result = Error{};
    try {
      result = job();
    } catch (const std::exception& e) {
      result = database_error(e);
    }
    boost::asio::post(reply_on, [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
  });
}

void KeyAdmin::create(KeySpec spec, boost::asio::any_io_executor reply_on, Done done) {
  run(std::move(reply_on), std::move(done), [this, spec = std::move(spec)]() -> Result<json> {
    CreatedKey created = create_api_key(db_, spec, unix_now_ms());
    reload(db_);
    json out = key_json(created.record);
    out["key"] = created.key;
    return out;
  });
}

void KeyAdmin::revoke(std::string id, boost::asio::any_io_executor reply_on, Done done) {
  run(std::move(reply_on), std::move(done), [this, id = std::move(id)]() -> Result<json> {
    if (!pricing::revoke_api_key(db_, id, unix_now_ms())) {
      return Error::not_found("No API key '" + id + "' that is not already revoked", "api_key_not_found");
    }
    reload(db_);
    return json{{"id", id}, {"object", "api_key"}, {"revoked", true}};
  });
}

}  // namespace mg::gateway
