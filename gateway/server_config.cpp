#include "gateway/server_config.h"

#include <charconv>
#include <fstream>
#include <sstream>
#include <thread>

#include "pricing/redis_connection.h"
#include "core/json_object_reader.h"
#include "formats/openai_wire.h"

namespace mg::gateway {
namespace {

using nlohmann::json;

constexpr std::int64_t kHourMs = 3'600'000;

Error config_error(std::string message) {
  return Error{2, FailureClass::caller_fault, "config_error", {}, {}, std::move(message), 0};
}

void read_duration(ObjectReader& reader, std::string_view key, Milliseconds& target) {
  if (auto value = reader.integer(key, 1, kHourMs)) target = Milliseconds(*value);
}

void read_size(ObjectReader& reader, std::string_view key, std::size_t& target, std::int64_t min, std::int64_t max) {
  if (auto value = reader.integer(key, min, max)) target = static_cast<std::size_t>(*value);
}

void read_http(ObjectReader& root, HttpLimits& http) {
  const json* section = root.find("http");
  if (!section) return;
  ObjectReader reader(*section, "http");
  read_size(reader, "max_header_bytes", http.max_header_bytes, 1024, 1 << 20);
  read_size(reader, "max_body_bytes", http.max_body_bytes, 1024, std::int64_t{1} << 30);
  read_duration(reader, "header_timeout_ms", http.header_timeout);
  read_duration(reader, "body_timeout_ms", http.body_timeout);
  read_duration(reader, "idle_timeout_ms", http.idle_timeout);
  read_duration(reader, "write_timeout_ms", http.write_timeout);
  read_size(reader, "max_connections", http.max_connections, 1, 1'000'000);
  read_size(reader, "max_pending_stream_bytes", http.max_pending_stream_bytes, 64 * 1024, std::int64_t{1} << 30);
  read_size(reader, "max_requests_in_flight", http.max_requests_in_flight, 1, 1'000'000);
  read_size(reader, "max_buffered_body_bytes", http.max_buffered_body_bytes, 1024, std::int64_t{1} << 40);
  read_size(reader, "parsed_bytes_per_body_byte", http.parsed_bytes_per_body_byte, 1, 1024);
  read_size(reader, "min_parsed_bytes", http.min_parsed_bytes, 1024, std::int64_t{1} << 40);
  reader.reject_unread();
}

void read_routing(ObjectReader& root, ServerConfig& config) {
  const json* section = root.find("routing");
  if (!section) return;
  ObjectReader reader(*section, "routing");
  if (auto retries = reader.small_integer("retries_per_route", 0, 10)) config.retry.retries_per_route = *retries;
  read_duration(reader, "backoff_initial_ms", config.retry.backoff_initial);
  read_duration(reader, "backoff_max_ms", config.retry.backoff_max);
  read_duration(reader, "max_retry_after_ms", config.retry.max_retry_after);
  if (auto attempts = reader.small_integer("max_attempts", 1, 100)) config.retry.max_attempts = *attempts;
  if (auto failures = reader.small_integer("circuit_consecutive_failures", 1, 1000)) config.circuit.consecutive_failures = *failures;
  if (auto rate = reader.number("circuit_error_rate", 0.01, 1.0)) config.circuit.error_rate = *rate;
  read_duration(reader, "circuit_cooldown_ms", config.circuit.cooldown);
  if (auto resume = reader.boolean("resume_streams")) config.retry.resume_streams = *resume;
  reader.reject_unread();
}

void read_upstream(ObjectReader& root, UpstreamLimits& upstream) {
  const json* section = root.find("upstream");
  if (!section) return;
  ObjectReader reader(*section, "upstream");
  read_duration(reader, "connect_timeout_ms", upstream.connect_timeout);
  read_duration(reader, "first_byte_timeout_ms", upstream.first_byte_timeout);
  read_duration(reader, "idle_timeout_ms", upstream.idle_timeout);
  read_size(reader, "max_body_bytes", upstream.max_body_bytes, 1024, std::int64_t{1} << 31);
  read_size(reader, "max_idle_connections", upstream.max_idle_connections, 0, 100'000);
  reader.reject_unread();
}

void read_fake_provider(ObjectReader& root, ServerConfig& config) {
  const json* section = root.find("fake_provider");
  if (!section) return;
  ObjectReader reader(*section, "fake_provider");
  config.fake_provider_enabled = reader.boolean("enabled").value_or(true);
  read_duration(reader, "slow_first_token_ms", config.fake_provider.slow_first_token);
  read_duration(reader, "slow_between_tokens_ms", config.fake_provider.slow_between_tokens);
  reader.reject_unread();
}

void read_local(ObjectReader& root, LocalEngineSettings& local) {
  if (auto model = root.string("local_model")) local.model_path = *model;  // the short form
  const json* section = root.find("local");
  if (!section) return;
  ObjectReader reader(*section, "local");
  if (auto enabled = reader.boolean("enabled")) local.enabled = *enabled;
  if (auto model = reader.string("model")) local.model_path = *model;
  if (auto id = reader.string("model_id")) local.model_id = *id;
  if (auto threads = reader.small_integer("threads", 0, 1024)) local.threads = *threads;
  if (auto context = reader.small_integer("context", 16, 1 << 20)) local.context = *context;
  if (auto mib = reader.small_integer("kv_cache_mib", 1, 1 << 20)) local.kv_cache_mib = *mib;
  if (auto running = reader.small_integer("max_running", 1, 256)) local.max_running = *running;
  if (auto queued = reader.small_integer("max_queued", 0, 100'000)) local.max_queued = *queued;
  if (auto price = reader.number("usd_per_mtok_input", 0, 1e6)) local.usd_per_mtok_input = *price;
  if (auto price = reader.number("usd_per_mtok_output", 0, 1e6)) local.usd_per_mtok_output = *price;
  reader.reject_unread();
}

void read_dialects(ObjectReader& root, DialectRegistry& dialects) {
  const json* section = root.find("dialects");
  if (!section) return;
  ObjectReader reader(*section, "dialects");  // checks it is an object
  for (const auto& [name, definition] : section->items()) {
    reader.find(name);
    if (Status defined = dialects.define(name, definition); !defined) violate(defined.error().param, defined.error().message);
  }
}

// Errors here never quote a value: what sits there may be a key.
void read_providers(ObjectReader& root, ServerConfig& config) {
  const json* section = root.find("providers");
  if (!section) return;
  ObjectReader all(*section, "providers");
  for (const auto& [name, value] : section->items()) {
    std::string path = all.path_of(name);
    all.find(name);
    if (!value.is_object()) violate(path, "must be an object such as {\"api_key\": \"...\", \"dialect\": \"...\"}");
    ObjectReader reader(value, path);
    ProviderSettings& settings = config.providers[name];
    if (const json* key = reader.find("api_key")) {
      if (!key->is_string()) violate(reader.path_of("api_key"), "must be a string");
      settings.api_key = key->get<std::string>();
    }
    settings.dialect = reader.string("dialect").value_or("");
    if (!settings.dialect.empty() && !config.dialects.find(settings.dialect)) {
      violate(reader.path_of("dialect"), "names no dialect: '" + settings.dialect + "'");
    }
    reader.reject_unread();
  }
}

void read_root(const json& document, ServerConfig& config) {
  ObjectReader root(document, "");
  if (auto listen = root.string("listen")) {
    if (Status status = apply_listen_address(*listen, config); !status) violate("listen", status.error().message);
  }
  if (auto reuse_port = root.boolean("reuse_port")) config.reuse_port = *reuse_port;
  if (auto db = root.string("db")) config.db_path = *db;
  if (auto state_dir = root.string("state_dir")) config.state_dir = *state_dir;
  if (auto redis_url = root.string("redis_url")) config.redis_url = *redis_url;
  if (auto failure = root.one_of("shared_state_failure", std::array{"open", "closed"})) {
    config.shared_state_failure = *failure == "open" ? SharedStateFailure::open : SharedStateFailure::closed;
  }
  read_duration(root, "shared_state_timeout_ms", config.shared_state_timeout);
  if (auto threads = root.small_integer("threads", 0, 1024)) config.io_threads = *threads;
  if (auto spin = root.integer("io_spin_us", 0, 100'000)) config.io_spin = std::chrono::microseconds(*spin);
  read_local(root, config.local);
  if (auto ca_file = root.string("upstream_ca_file")) config.upstream_ca_file = *ca_file;
  if (auto admin_key = root.string("admin_key")) config.admin_key = *admin_key;  // never quoted in an error
  if (auto metrics_key = root.string("metrics_key")) config.metrics_key = *metrics_key;  // nor this one
  if (auto access_log = root.string("access_log")) config.access_log = *access_log;
  read_http(root, config.http);
  read_duration(root, "stream_keepalive_interval_ms", config.stream_keepalive_interval);
  read_duration(root, "shutdown_grace_ms", config.shutdown_grace);
  read_duration(root, "request_timeout_ms", config.request_timeout);
  read_duration(root, "catalogue_poll_interval_ms", config.catalogue_poll_interval);
  if (auto retry = root.small_integer("no_route_retry_after_s", 1, 3600)) config.no_route_retry_after_s = *retry;
  read_routing(root, config);
  read_upstream(root, config.upstream);
  read_fake_provider(root, config);
  read_dialects(root, config.dialects);
  read_providers(root, config);  // after the dialects it may name
  root.reject_unread();
}

}  // namespace

int ServerConfig::effective_io_threads() const {
  if (io_threads > 0) return io_threads;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

Status ServerConfig::validate() const {
  if (listen_host.empty()) return config_error("listen host is empty");
  if (db_path.empty()) return config_error("db path is empty");
  if (io_threads < 0) return config_error("threads must be >= 0; got " + std::to_string(io_threads));
  if (http.max_body_bytes < 1024) return config_error("http.max_body_bytes must be at least 1024");
  if (!admin_key.empty() && admin_key.size() < 16) {
    return config_error("admin_key must be at least 16 characters; got " + std::to_string(admin_key.size()));
  }
  if (!metrics_key.empty() && metrics_key.size() < 16) {
    return config_error("metrics_key must be at least 16 characters; got " + std::to_string(metrics_key.size()));
  }
  if (access_log.empty()) return config_error("access_log must be \"stderr\", \"off\" or a file path");
  pricing::RedisOptions redis;
  if (!redis_url.empty() && !pricing::parse_redis_url(redis_url, redis)) {
    return config_error("redis_url must be redis://HOST[:PORT]; got '" + redis_url + "'");
  }
  return Ok{};
}

Status apply_listen_address(const std::string& address, ServerConfig& config) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return config_error("listen address must be HOST:PORT; got '" + address + "'");
  std::string host = address.substr(0, colon);
  std::string port_text = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return config_error("listen port must be 0 to 65535; got '" + port_text + "'");
  }
  config.listen_host = host.empty() ? "0.0.0.0" : host;
  config.listen_port = static_cast<std::uint16_t>(port);
  return Ok{};
}

Status apply_config_json(const std::string& text, ServerConfig& config) {
  Result<json> document = parse_json_document(text);
  if (!document) return config_error(document.error().message);
  try {
    read_root(*document, config);
  } catch (const SchemaViolation& violation) {
    return config_error(violation.error.message);
  }
  return config.validate();
}

Status apply_config_file(const std::string& path, ServerConfig& config) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return config_error("cannot read config file '" + path + "'");
  std::ostringstream text;
  text << file.rdbuf();
  Status status = apply_config_json(text.str(), config);
  if (!status) return config_error("config file '" + path + "': " + status.error().message);
  return status;
}

}  // namespace mg::gateway
