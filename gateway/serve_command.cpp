#include "gateway/serve_command.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include <boost/asio/ip/address.hpp>

#include "gateway/gateway.h"
#include "gateway/log.h"
#include "pricing/database.h"

namespace mg::gateway {

const char* const kServeHelp =
    "Usage: modelgate serve [options]\n"
    "\n"
    "Runs the OpenAI-compatible gateway (the default subcommand).\n"
    "\n"
    "Options:\n"
    "  --listen HOST:PORT    address to listen on (default 127.0.0.1:8080; port 0 picks a free one)\n"
    "  --db PATH|URL         SQLite database, created on first start (default ./modelgate.db), or a\n"
    "                        postgresql://user@host/dbname URL, shared by several replicas\n"
    "  --state-dir DIR       where the ledger's spill file and crash journal go (default: beside the SQLite\n"
    "                        file; with PostgreSQL, the current directory)\n"
    "  --redis-url URL       redis://host:port shared by the replicas for keys' budgets and rates\n"
    "  --config FILE         JSON config file; flags given on the command line win over it\n"
    "  --threads N           I/O threads (default: one per core)\n"
    "  --reuse-port          share the port with another modelgate (SO_REUSEPORT) for a restart without\n"
    "                        lost connections: start the new one, then send the old one SIGTERM\n"
    "  --local-model PATH    GGUF model (Mistral or Mixtral) for the built-in engine, the last route of its\n"
    "                        model's chains; without one it serves a tiny synthetic demo model\n"
    "  --help                show this help\n"
    "\n"
    "Config file keys: listen, reuse_port, db, state_dir, redis_url, shared_state_failure (open or closed), shared_state_timeout_ms, threads, admin_key, metrics_key, access_log (stderr, off or a file), local_model, local {enabled, model, model_id, threads, context, kv_cache_mib,\n"
    "max_running, max_queued, usd_per_mtok_input, usd_per_mtok_output}, upstream_ca_file, stream_keepalive_interval_ms, shutdown_grace_ms,\n"
    "request_timeout_ms, catalogue_poll_interval_ms, no_route_retry_after_s, http {max_header_bytes, max_body_bytes, header_timeout_ms, body_timeout_ms,\n"
    "idle_timeout_ms, write_timeout_ms, max_connections, max_pending_stream_bytes,\n"
    "max_requests_in_flight, max_buffered_body_bytes}, routing {retries_per_route,\n"
    "backoff_initial_ms, backoff_max_ms, max_retry_after_ms, max_attempts, circuit_consecutive_failures,\n"
    "circuit_error_rate, circuit_cooldown_ms}, upstream {connect_timeout_ms, first_byte_timeout_ms, idle_timeout_ms,\n"
    "max_body_bytes}, and for tests only\n"
    "fake_provider {enabled, slow_first_token_ms, slow_between_tokens_ms}.\n"
    "\n"
    "SIGTERM or SIGINT drains: no new connections, in-flight requests finish within the grace period.\n"
    "With --reuse-port, connections the kernel already queued for this process are still accepted and answered.\n";

namespace {

struct FlagValues {
  std::optional<std::string> listen, db, state_dir, redis_url, config, threads, local_model;
};

std::optional<std::string>* flag_slot(FlagValues& values, const std::string& name) {
  if (name == "--listen") return &values.listen;
  if (name == "--db") return &values.db;
  if (name == "--state-dir") return &values.state_dir;
  if (name == "--redis-url") return &values.redis_url;
  if (name == "--config") return &values.config;
  if (name == "--threads") return &values.threads;
  if (name == "--local-model") return &values.local_model;
  return nullptr;
}

bool fail(const std::string& message, int& exit_code) {
  std::fprintf(stderr, "modelgate serve: %s\n(see modelgate serve --help)\n", message.c_str());
  exit_code = 2;
  return false;
}

bool apply_flags(const FlagValues& values, ServerConfig& config, int& exit_code) {
  if (values.listen) {
    if (Status status = apply_listen_address(*values.listen, config); !status) return fail(status.error().message, exit_code);
  }
  if (values.db) config.db_path = *values.db;
  if (values.state_dir) config.state_dir = *values.state_dir;
  if (values.redis_url) config.redis_url = *values.redis_url;
  if (values.local_model) config.local.model_path = *values.local_model;
  if (values.threads) {
    const std::string& text = *values.threads;
    int threads = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), threads);
    if (ec != std::errc() || end != text.data() + text.size() || threads < 1 || threads > 1024) {
      return fail("--threads must be a whole number from 1 to 1024; got '" + text + "'", exit_code);
    }
    config.io_threads = threads;
  }
  if (Status valid = config.validate(); !valid) return fail(valid.error().message, exit_code);
  return true;
}

void log_local_engine(LocalProvider& local) {
  const engine::ServingEngine& serving = local.serving();
  const std::string id = local.models().front().model_id;
  log_info("local engine: model '" + id + "' (" + serving.engine().model()->hparams().summary() + "), " + std::to_string(serving.n_ctx()) +
           " positions per request, a KV cache of " + std::to_string(serving.kv_blocks() * engine::kKvBlockPositions) +
           " positions shared by the requests and the prefix cache (local.kv_cache_mib); the last route for '" + id + "'");
  if (local.is_demo()) {
    log_warn("no --local-model given: the local route serves '" + id +
             "', a tiny synthetic demo model with random weights whose answers are noise; start with --local-model FILE.gguf for a real one");
  }
}

bool is_loopback(const std::string& host) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  return !ec && address.is_loopback();
}

void log_access_rules(const Gateway& gateway, const ServerConfig& config) {
  if (gateway.access().auth_required()) {
    log_info("API keys required on /v1 (modelgate keys list shows them)");
  } else if (is_loopback(config.listen_host)) {
    log_info("no API keys yet: serving " + config.listen_host + " without authentication (modelgate keys create adds one)");
  } else {
    log_warn("no API keys yet and listening on " + config.listen_host +
             ": anyone who can reach it may use the gateway and spend on its upstream keys; create one with modelgate keys create");
  }
  if (config.admin_key.empty()) log_info("admin API off: set admin_key in the config or MODELGATE_ADMIN_KEY to manage keys over HTTP");
}

}  // namespace

bool parse_serve_args(const std::vector<std::string>& args, ServerConfig& config, int& exit_code) {
  FlagValues values;
  bool reuse_port = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kServeHelp, stdout);
      exit_code = 0;
      return false;
    }
    if (arg == "--reuse-port") {
      reuse_port = true;
      continue;
    }
    std::string name = arg.substr(0, arg.find('='));
    std::optional<std::string>* slot = flag_slot(values, name);
    if (!slot) return fail("unknown option '" + arg + "'", exit_code);
    if (name.size() < arg.size()) {
      *slot = arg.substr(name.size() + 1);
    } else if (i + 1 < args.size()) {
      *slot = args[++i];
    } else {
      return fail("option " + name + " needs a value", exit_code);
    }
  }
  if (values.config) {
    if (Status status = apply_config_file(*values.config, config); !status) return fail(status.error().message, exit_code);
  }
  if (reuse_port) config.reuse_port = true;
  return apply_flags(values, config, exit_code);
}

int run_serve_command(const std::vector<std::string>& args) {
  ServerConfig config;
  if (const char* admin_key = std::getenv("MODELGATE_ADMIN_KEY")) config.admin_key = admin_key;  // the config file wins
  if (const char* metrics_key = std::getenv("MODELGATE_METRICS_KEY")) config.metrics_key = metrics_key;
  int exit_code = 0;
  if (!parse_serve_args(args, config, exit_code)) return exit_code;
  auto started_at = std::chrono::steady_clock::now();
  Gateway gateway(config);
  gateway.handle_signals();
  if (Status started = gateway.start(); !started) {
    log_error(started.error().message);
    return 1;
  }
  // Everything about the start is logged before the "listening" line, which tells scripts the server is ready.
  if (LocalProvider* local = gateway.local()) log_local_engine(*local);
  log_access_rules(gateway, config);
  if (config.fake_provider_enabled) log_warn("the test-only fake provider is enabled (models echo, slow, error, slow_error, flaky, embed, embed_error)");
  auto startup_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_at).count();
  log_info("modelgate listening on http://" + config.listen_host + ":" + std::to_string(gateway.port()) + " (" +
           std::to_string(config.effective_io_threads()) + " I/O threads, database " + pricing::printable_location(config.db_path) + ", started in " +
           std::to_string(startup_ms) + " ms)");
  gateway.wait();
  log_info("stopped");
  return 0;
}

}  // namespace mg::gateway
