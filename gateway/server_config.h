// Everything `modelgate serve` can be told, as one plain struct with explicit defaults. Built from the
// defaults, then the --config file, then command-line flags; validated once, then read-only.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "gateway/circuit_breakers.h"
#include "providers/dialect.h"
#include "providers/fake_provider.h"
#include "core/result.h"

namespace mg::gateway {

using Milliseconds = std::chrono::milliseconds;

struct HttpLimits {
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 8 * 1024 * 1024;
  Milliseconds header_timeout{10'000};  // from the first byte of a request to the end of its headers
  Milliseconds body_timeout{30'000};    // to read the whole body
  Milliseconds idle_timeout{60'000};    // a keep-alive connection waiting for its next request
  Milliseconds write_timeout{30'000};   // for one write to the client to complete
  std::size_t max_connections = 10'000;
  std::size_t max_pending_stream_bytes = 8 * 1024 * 1024;  // unsent SSE bytes before a slow reader is cut off
  // Past either bound a new request is answered 503 + Retry-After as soon as its headers are read, before
  // its body: capacity is shed at once instead of queueing without bound.
  std::size_t max_requests_in_flight = 2'048;  // of /v1/ requests; probes, metrics and admin are never shed
  std::size_t max_buffered_body_bytes = 256 * 1024 * 1024;  // bodies over 64 KiB held at once, all connections together
  // A request's parsed form may take this many times its body's bytes of memory (at least
  // min_parsed_bytes); past that it is refused with 413. Ordinary requests take 2 to 4 times; a body of
  // tiny messages would take over 12 times.
  std::size_t parsed_bytes_per_body_byte = 6;
  std::size_t min_parsed_bytes = 1024 * 1024;

  // The most memory the parsed JSON of a `body_bytes` body may take.
  std::size_t max_parsed_bytes(std::size_t body_bytes) const {
    return std::max(min_parsed_bytes, body_bytes * parsed_bytes_per_body_byte);
  }
};

// Retrying the same route before falling back to the next one.
struct RetryPolicy {
  int retries_per_route = 1;                // after the first attempt, for transient failures, timeouts and 429s
  Milliseconds backoff_initial{100};        // doubled per retry, with jitter in [half, full]
  Milliseconds backoff_max{2'000};
  Milliseconds max_retry_after{2'000};      // a longer Retry-After moves on to the next route instead
  int max_attempts = 6;                     // across all routes of one request
  bool resume_streams = false;              // every stream resumes on the next route (else per request)
};

// How long the gateway waits on an upstream, and how much it reads from one.
struct UpstreamLimits {
  Milliseconds connect_timeout{5'000};
  Milliseconds first_byte_timeout{60'000};
  Milliseconds idle_timeout{60'000};  // between two chunks of a stream
  std::size_t max_body_bytes = 32 * 1024 * 1024;
  std::size_t max_idle_connections = 256;  // per upstream, kept for reuse
};

// Per-provider settings from the config file, over what the catalogue says.
struct ProviderSettings {
  std::string api_key;  // wins over the catalogue's environment variable
  std::string dialect;  // '' keeps the catalogue's
};

// The built-in CPU engine: one model, served as the last route of every chain that reaches it.
struct LocalEngineSettings {
  bool enabled = true;
  std::string model_path;  // a GGUF file; '' serves a tiny synthetic demo model (random weights)
  std::string model_id;    // the id clients ask for; '' takes the file's name without ".gguf"
  int threads = 0;         // of its matrix products (0: one per core)
  int context = 4096;      // positions per request, at most the model's own
  int kv_cache_mib = 1024; // the KV cache all requests and the prefix cache share
  int max_running = 16;    // requests decoded together in one batch
  int max_queued = 64;     // waiting beyond those; more are answered 503 with Retry-After
  double usd_per_mtok_input = 0;
  double usd_per_mtok_output = 0;

  bool demo() const { return model_path.empty(); }
};

// What a replica does with a key's limits when the shared state (Redis) does not answer: hold the key to
// its own limits ("open"), or refuse with 503 ("closed").
enum class SharedStateFailure { open, closed };

struct ServerConfig {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;  // 0: any free port (logged at start)
  // SO_REUSEPORT, for restarts without a refused or reset connection: a second modelgate on the same port
  // takes every new connection while the first, sent SIGTERM, finishes what it has.
  bool reuse_port = false;
  std::string db_path = "modelgate.db";  // a SQLite file, or a postgresql:// URL that replicas share
  // Where the ledger's spill file and crash journal go: '' puts them beside a SQLite file, or, with
  // PostgreSQL, in the current directory. Each replica wants its own.
  std::string state_dir;
  // redis://host:port shared by the replicas for keys' budgets and rates; '' : each replica counts alone.
  std::string redis_url;
  SharedStateFailure shared_state_failure = SharedStateFailure::open;
  Milliseconds shared_state_timeout{200};  // one Redis round trip's deadline
  int io_threads = 0;  // 0: one per core
  // How long an I/O thread that ran out of work polls on before it sleeps; 0: it sleeps at once.
  std::chrono::microseconds io_spin{100};
  LocalEngineSettings local;
  std::string upstream_ca_file;  // PEM CAs trusted for https upstreams instead of the system store
  HttpLimits http;
  Milliseconds stream_keepalive_interval{15'000};  // SSE comments while waiting for the first token
  Milliseconds shutdown_grace{30'000};             // how long in-flight requests may finish after SIGTERM
  Milliseconds request_timeout{600'000};           // a whole answer, all routes and retries included
  Milliseconds catalogue_poll_interval{1'000};     // how soon catalogue edits from the CLI take effect
  int no_route_retry_after_s = 5;
  RetryPolicy retry;
  UpstreamLimits upstream;
  CircuitOptions circuit;
  DialectRegistry dialects;                         // the presets plus the config file's "dialects"
  std::map<std::string, ProviderSettings> providers;  // by catalogue provider name
  std::string admin_key;           // guards /admin/*; '' turns the admin API off (MODELGATE_ADMIN_KEY sets it too)
  // Lets a scraper read /metrics and the detailed /health without the admin key (MODELGATE_METRICS_KEY
  // sets it too). Those are open only on a gateway with no key of any kind.
  std::string metrics_key;
  std::string access_log = "stderr";  // one JSON line per request: "stderr", "off", or a file to append to
  bool fake_provider_enabled = false;  // test-only in-process provider (see providers/fake_provider.h)
  FakeProviderOptions fake_provider;

  int effective_io_threads() const;
  Status validate() const;
};

// "HOST:PORT", "[V6]:PORT" or ":PORT" into the config.
Status apply_listen_address(const std::string& address, ServerConfig& config);

// Applies a JSON config file over `config`. Unknown keys are errors: a typo must not pass silently.
Status apply_config_file(const std::string& path, ServerConfig& config);
Status apply_config_json(const std::string& text, ServerConfig& config);

}  // namespace mg::gateway
