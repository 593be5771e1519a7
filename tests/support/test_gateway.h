// An in-process gateway on a free loopback port with the fake provider and a fresh SQLite file, for tests
// that need the real server (real sockets, real Beast sessions) under the sanitizers.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "gateway/gateway.h"
#include "pricing/catalogue.h"
#include "tests/support/raw_http_client.h"

namespace mg::test {

// A fresh temporary directory, removed with the object.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The database a test opens: a SQLite file named `name` in `dir`; or, when the suite runs against
// PostgreSQL (MODELGATE_TEST_POSTGRES_FILE names the state file of tests/support/postgres_server.sh), a
// fresh schema on that server, as a postgresql:// URL.
std::string test_database(const TempDir& dir, const std::string& name);
bool testing_postgres();
// For a test of what only a SQLite file does (another process's lock on it): skipped on PostgreSQL.
#define SKIP_UNLESS_SQLITE() \
  if (::mg::test::testing_postgres()) GTEST_SKIP() << "a SQLite file's behaviour"

// Test defaults: short timeouts so hostile-input cases finish quickly.
gateway::ServerConfig test_server_config();

class TestGateway {
 public:
  explicit TestGateway(std::function<void(gateway::ServerConfig&)> adjust = {});
  ~TestGateway();

  std::uint16_t port() const { return gateway_->port(); }
  gateway::Gateway& gateway() { return *gateway_; }
  const gateway::ServerConfig& config() const { return gateway_->config(); }

  std::optional<RawResponse> post(const std::string& path, const nlohmann::json& body,
                                  std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"}});
  std::optional<RawResponse> get(const std::string& path);
  // With the metrics key, else the admin key, where the config has one: /metrics, the detailed /health.
  std::optional<RawResponse> get_as_operator(const std::string& path);
  // The detailed /health, as the operator sees it.
  nlohmann::json health();
  // Polls /health until `predicate` holds or the timeout passes; returns the last /health body.
  nlohmann::json wait_for_health(const std::function<bool(const nlohmann::json&)>& predicate,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  TempDir dir_;
  std::unique_ptr<gateway::Gateway> gateway_;
};

// The gateway's ledger after a flush, a JSON object per row: request_id, status, error_code, route,
// routes_tried (parsed), prompt_tokens, completion_tokens, cost_usd.
nlohmann::json ledger_rows(gateway::Gateway& gateway, const std::string& db_path);

// The suite's log folder ($MODELGATE_TEST_LOG_DIR, created), or nullopt when the test runs outside ctest.
std::optional<std::filesystem::path> suite_log_dir();
// Lists `secret` for the suite's last test, which greps every log for it (tests/support/logs_carry_no_secrets.py).
void register_test_secret(const std::string& secret);

// The admin key tests configure, and the headers that present a bearer token with a JSON body.
inline constexpr const char* kTestAdminKey = "test-admin-key-0123456789abcdef";
using Headers = std::vector<std::pair<std::string, std::string>>;
Headers bearer(const std::string& token);
// Creates a client key through the admin API (the gateway's admin key must be kTestAdminKey); returns
// {"id", "key", ...}, the key listed as a secret.
nlohmann::json create_key_as_admin(TestGateway& gateway, const nlohmann::json& spec);

nlohmann::json chat_body(const std::string& model, const std::string& user_text, bool stream = false);

// What a chat answer says in choice 0: a whole answer's message content, or a stream's content deltas
// joined ([DONE] and chunks without content skipped).
std::string answer_text(const RawResponse& response, bool streamed);

// Adds a catalogue route: `model` (32K context, tools and JSON) on `provider`, known upstream as
// `upstream_model`, at the given USD per million input and output tokens.
void put_route(pricing::Database& db, const std::string& model, const std::string& provider, const std::string& upstream_model,
               double usd_per_mtok_input, double usd_per_mtok_output);

}  // namespace mg::test
