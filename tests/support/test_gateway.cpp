#include "tests/support/test_gateway.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <libpq-fe.h>

namespace mg::test {

TempDir::TempDir() {
  std::random_device random;
  path_ = std::filesystem::temp_directory_path() / ("modelgate-test-" + std::to_string(random()) + std::to_string(random()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

namespace {

// The test server's URL, from the state file postgres_server.sh wrote; '' when the suite runs on SQLite.
std::string postgres_server_url() {
  const char* state_file = std::getenv("MODELGATE_TEST_POSTGRES_FILE");
  if (!state_file || !*state_file) return "";
  std::ifstream in(state_file);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("url=")) return line.substr(4);
  }
  ADD_FAILURE() << "no url= line in " << state_file << " (did the postgres.start fixture run?)";
  return "";
}

// A schema of its own for each database a test asks for: as apart as two files, and far cheaper than a
// database each.
std::string create_postgres_schema(const std::string& server_url) {
  static std::atomic<int> schemas{0};
  std::string schema = "t" + std::to_string(::getpid()) + "_" + std::to_string(schemas++);
  PGconn* conn = PQconnectdb(server_url.c_str());
  PGresult* result = PQexec(conn, ("SET client_min_messages = warning; DROP SCHEMA IF EXISTS " + schema + " CASCADE; CREATE SCHEMA " + schema).c_str());
  if (PQresultStatus(result) != PGRES_COMMAND_OK) ADD_FAILURE() << "cannot create schema " << schema << ": " << PQerrorMessage(conn);
  PQclear(result);
  PQfinish(conn);
  return server_url + "?options=-csearch_path%3D" + schema;
}

}  // namespace

bool testing_postgres() { return !postgres_server_url().empty(); }

std::string test_database(const TempDir& dir, const std::string& name) {
  std::string server = postgres_server_url();
  return server.empty() ? (dir.path() / name).string() : create_postgres_schema(server);
}

gateway::ServerConfig test_server_config() {
  gateway::ServerConfig config;
  config.listen_host = "127.0.0.1";
  config.listen_port = 0;
  config.io_threads = 2;
  config.http.header_timeout = std::chrono::milliseconds(500);
  config.http.body_timeout = std::chrono::milliseconds(500);
  config.http.idle_timeout = std::chrono::milliseconds(2000);
  config.http.write_timeout = std::chrono::milliseconds(2000);
  config.stream_keepalive_interval = std::chrono::milliseconds(50);
  config.shutdown_grace = std::chrono::milliseconds(5000);
  config.fake_provider_enabled = true;
  config.local.enabled = false;  // tests of the local route turn it on
  config.access_log = "off";     // tests of the access log turn it on
  config.fake_provider.slow_first_token = std::chrono::milliseconds(300);
  config.fake_provider.slow_between_tokens = std::chrono::milliseconds(20);
  return config;
}

std::optional<std::filesystem::path> suite_log_dir() {
  const char* dir = std::getenv("MODELGATE_TEST_LOG_DIR");
  if (!dir || !*dir) return std::nullopt;
  std::filesystem::create_directories(dir);
  return std::filesystem::path(dir);
}

void register_test_secret(const std::string& secret) {
  std::optional<std::filesystem::path> dir = suite_log_dir();
  if (!dir || secret.empty()) return;
  int fd = ::open((*dir / "secrets.txt").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return ADD_FAILURE() << "cannot list a secret in " << *dir;
  std::string line = secret + "\n";
  EXPECT_EQ(::write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));  // one write: lines never interleave
  ::close(fd);
}

TestGateway::TestGateway(std::function<void(gateway::ServerConfig&)> adjust) {
  gateway::ServerConfig config = test_server_config();
  config.db_path = test_database(dir_, "gateway.db");
  if (testing_postgres()) config.state_dir = dir_.path().string();  // the spill file and journal, apart from other tests'
  if (std::optional<std::filesystem::path> logs = suite_log_dir()) {
    static std::atomic<int> gateways{0};
    config.access_log = (*logs / ("inproc-" + std::to_string(::getpid()) + "-" + std::to_string(gateways++) + ".access.log")).string();
  }
  if (adjust) adjust(config);
  register_test_secret(config.admin_key);
  register_test_secret(config.metrics_key);
  for (const auto& [name, settings] : config.providers) register_test_secret(settings.api_key);
  gateway_ = std::make_unique<gateway::Gateway>(config);
  Status started = gateway_->start();
  if (!started) ADD_FAILURE() << "gateway did not start: " << started.error().message;
}

TestGateway::~TestGateway() {
  gateway_->request_shutdown();
  gateway_->wait();
}

std::optional<RawResponse> TestGateway::post(const std::string& path, const nlohmann::json& body,
                                             std::vector<std::pair<std::string, std::string>> headers) {
  return http_request(port(), "POST", path, body.dump(), headers);
}

std::optional<RawResponse> TestGateway::get(const std::string& path) { return http_request(port(), "GET", path, "", {}); }

std::optional<RawResponse> TestGateway::get_as_operator(const std::string& path) {
  const std::string& key = config().metrics_key.empty() ? config().admin_key : config().metrics_key;
  if (key.empty()) return get(path);
  return http_request(port(), "GET", path, "", {{"Authorization", "Bearer " + key}});
}

nlohmann::json TestGateway::health() {
  auto response = get_as_operator("/health");
  if (!response || response->status != 200) return nullptr;
  return nlohmann::json::parse(response->body);
}

nlohmann::json TestGateway::wait_for_health(const std::function<bool(const nlohmann::json&)>& predicate,
                                            std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  nlohmann::json last;
  while (std::chrono::steady_clock::now() < deadline) {
    last = health();
    if (!last.is_null() && predicate(last)) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return last;
}

nlohmann::json ledger_rows(gateway::Gateway& gateway, const std::string& db_path) {
  gateway.recorder().flush();
  pricing::Database db = pricing::Database::open(db_path);
  pricing::Statement query = db.prepare(
      "SELECT request_id, status, error_code, route, routes_tried, prompt_tokens, completion_tokens, cost_usd FROM usage_ledger ORDER BY id");
  nlohmann::json rows = nlohmann::json::array();
  while (query.step()) {
    rows.push_back({{"request_id", query.text(0)}, {"status", query.integer(1)}, {"error_code", query.text(2)}, {"route", query.text(3)},
                    {"routes_tried", nlohmann::json::parse(query.text(4))}, {"prompt_tokens", query.integer(5)},
                    {"completion_tokens", query.integer(6)}, {"cost_usd", query.real(7)}});
  }
  return rows;
}

Headers bearer(const std::string& token) { return {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}}; }

nlohmann::json create_key_as_admin(TestGateway& gateway, const nlohmann::json& spec) {
  std::optional<RawResponse> response = gateway.post("/admin/keys", spec, bearer(kTestAdminKey));
  EXPECT_TRUE(response && response->status == 201) << (response ? response->body : "no response");
  if (!response) return nullptr;
  nlohmann::json created = nlohmann::json::parse(response->body);
  register_test_secret(created.value("key", ""));
  return created;
}

nlohmann::json chat_body(const std::string& model, const std::string& user_text, bool stream) {
  nlohmann::json body = {{"model", model}, {"messages", {{{"role", "user"}, {"content", user_text}}}}};
  if (stream) body["stream"] = true;
  return body;
}

std::string answer_text(const RawResponse& response, bool streamed) {
  if (!streamed) {
    nlohmann::json answer = nlohmann::json::parse(response.body, nullptr, false);
    if (!answer.is_object() || !answer.contains("choices") || answer["choices"].empty()) return {};
    const nlohmann::json& content = answer["choices"][0]["message"]["content"];
    return content.is_string() ? content.get<std::string>() : std::string();
  }
  std::string text;
  for (const std::string& line : sse_data_lines(response.body)) {
    if (line == "[DONE]") continue;
    nlohmann::json chunk = nlohmann::json::parse(line, nullptr, false);
    if (!chunk.is_object() || !chunk.contains("choices") || chunk["choices"].empty()) continue;
    const nlohmann::json& delta = chunk["choices"][0]["delta"];
    if (delta.is_object() && delta.contains("content") && delta["content"].is_string()) text += delta["content"].get<std::string>();
  }
  return text;
}

void put_route(pricing::Database& db, const std::string& model, const std::string& provider, const std::string& upstream_model,
               double usd_per_mtok_input, double usd_per_mtok_output) {
  pricing::upsert_model(db, {model, "", 32768, true, true, {}});
  pricing::RouteRecord route;
  route.model_id = model;
  route.provider = provider;
  route.upstream_model_id = upstream_model;
  route.usd_per_mtok_input = usd_per_mtok_input;
  route.usd_per_mtok_output = usd_per_mtok_output;
  route.context_length = 32768;
  pricing::upsert_route(db, route);
}

}  // namespace mg::test
