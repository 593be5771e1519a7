// Creating, revoking and describing client API keys: one code path for the admin API (POST/GET/DELETE
// /admin/keys) and the `modelgate keys` CLI. The admin API's SQLite writes run on a thread of their own;
// the new keys table is in AccessControl before the answer leaves.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "gateway/access_control.h"
#include "pricing/api_keys.h"
#include "core/result.h"

namespace mg::gateway {

struct KeySpec {
  std::string name;
  pricing::KeyLimits limits;
};

// {"name", "budget_usd_day", "budget_usd_month", "budget_usd_total", "requests_per_minute",
// "tokens_per_minute", "allowed_models"}, every member optional; 400 naming the member otherwise.
Result<KeySpec> parse_key_spec(const std::string& json_text);

struct CreatedKey {
  pricing::ApiKeyRecord record;
  std::string key;  // the bearer token: shown once, stored nowhere
};
// Generates a key and stores its digest. Throws on SQLite errors.
CreatedKey create_api_key(pricing::Database& db, const KeySpec& spec, std::int64_t now_ms);

// A key as the admin API shows it (never its secret or digest), with what it has spent when known.
nlohmann::json key_json(const pricing::ApiKeyRecord& record, const KeyStatus* status = nullptr);
// Every key with its spend, for GET /admin/keys and the dashboard.
nlohmann::json keys_json(const AccessControl& access, std::int64_t now_ms);

class KeyAdmin {
 public:
  KeyAdmin(const std::string& db_path, AccessControl& access);  // throws at start-up if the file cannot be opened
  ~KeyAdmin();
  KeyAdmin(const KeyAdmin&) = delete;
  KeyAdmin& operator=(const KeyAdmin&) = delete;

  using Done = std::function<void(Result<nlohmann::json>)>;
  // Each runs on the admin thread and calls `done` on `reply_on`.
  void create(KeySpec spec, boost::asio::any_io_executor reply_on, Done done);
  void revoke(std::string id, boost::asio::any_io_executor reply_on, Done done);

  // Re-reads the keys table into AccessControl (after a change by another process, or by this one).
  void reload(const pricing::Database& db);
  // The keys table's version as of the last reload.
  std::int64_t applied_version() const { return applied_version_.load(); }

 private:
  void run(boost::asio::any_io_executor reply_on, Done done, std::function<Result<nlohmann::json>()> job);

  pricing::Database db_;  // used only on pool_'s thread
  AccessControl& access_;
  std::atomic<std::int64_t> applied_version_{0};
  boost::asio::thread_pool pool_{1};
};

}  // namespace mg::gateway
