#include "gateway/gateway.h"

#include <linux/filter.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <nlohmann/json.hpp>

#include "gateway/http_session.h"
#include "gateway/log.h"
#include "providers/fake_provider.h"
#include "providers/openai_http_provider.h"

namespace mg::gateway {

namespace net = boost::asio;
using tcp = net::ip::tcp;

struct SignalWatch {
  explicit SignalWatch(net::io_context& io) : signals(io, SIGINT, SIGTERM) {}
  net::signal_set signals;
};

namespace {

constexpr std::chrono::milliseconds kDrainPollInterval{20};
constexpr std::chrono::milliseconds kLastWordsTime{500};  // after the grace period, for cancelled answers to end
// With SO_REUSEPORT a draining gateway keeps accepting until no connection has come for kHandoverQuiet
// (the kernel may have queued some for it before the newer process took over), at most kHandoverMax.
constexpr std::chrono::milliseconds kHandoverQuiet{150};
constexpr std::chrono::milliseconds kHandoverMax{3'000};

std::vector<std::shared_ptr<Provider>> make_providers(const ServerConfig& config, net::io_context& io) {
  std::vector<std::shared_ptr<Provider>> providers;
  if (config.fake_provider_enabled) providers.push_back(std::make_shared<FakeProvider>(io.get_executor(), config.fake_provider));
  return providers;
}

struct RemoteProviders {
  std::vector<std::shared_ptr<OpenAiHttpProvider>> clients;
  std::map<std::string, std::string> unusable;  // provider -> why it has no client
};

// The provider's key: from the config file, else from the environment variable the catalogue names.
std::string api_key_for(const pricing::ProviderRecord& record, const ProviderSettings* settings) {
  if (settings && !settings->api_key.empty()) return settings->api_key;
  const char* key = record.api_key_env.empty() ? nullptr : std::getenv(record.api_key_env.c_str());
  return key ? key : "";
}

// One OpenAI-compatible client per catalogue provider, speaking its dialect.
RemoteProviders make_remote_providers(const std::vector<pricing::ProviderRecord>& providers, net::any_io_executor executor,
                                      const ServerConfig& config) {
  RemoteProviders out;
  for (const pricing::ProviderRecord& record : providers) {
    auto configured = config.providers.find(record.name);
    const ProviderSettings* settings = configured == config.providers.end() ? nullptr : &configured->second;
    std::string dialect_name = settings && !settings->dialect.empty() ? settings->dialect : record.dialect;
    const Dialect* dialect = config.dialects.find(dialect_name);
    if (!dialect) {
      out.unusable[record.name] = "unknown dialect '" + dialect_name + "'";
      continue;
    }
    UpstreamOptions options;
    options.api_key = api_key_for(record, settings);
    if (options.api_key.empty() && !record.api_key_env.empty()) {
      out.unusable[record.name] = "no API key in " + record.api_key_env + " or providers." + record.name + ".api_key";
      continue;
    }
    options.name = record.name;
    options.base_url = record.base_url;
    options.dialect = *dialect;
    options.ca_file = config.upstream_ca_file;
    options.connect_timeout = config.upstream.connect_timeout;
    options.first_byte_timeout = config.upstream.first_byte_timeout;
    options.idle_timeout = config.upstream.idle_timeout;
    options.max_body_bytes = config.upstream.max_body_bytes;
    options.max_idle_connections = config.upstream.max_idle_connections;
    auto client = OpenAiHttpProvider::create(executor, std::move(options));
    if (client) out.clients.push_back(std::move(client).value());
    else out.unusable[record.name] = client.error().message;
  }
  return out;
}

// The operator's view of what clients are only told is "not configured on this gateway".
void log_unusable_providers(const std::map<std::string, std::string>& unusable) {
  if (unusable.empty()) return;
  std::string line = "providers not usable (their routes are skipped):";
  for (const auto& [provider, why] : unusable) line += " " + provider + " (" + why + ");";
  line.pop_back();
  log_info(line);
}

std::shared_ptr<LocalProvider> start_local_provider(const LocalEngineSettings& settings) {
  engine::ServingOptions serving;
  serving.n_threads = static_cast<unsigned>(settings.threads);
  serving.n_ctx = static_cast<std::uint32_t>(settings.context);
  serving.kv_cache_bytes = static_cast<std::size_t>(settings.kv_cache_mib) << 20;
  serving.max_running = static_cast<std::uint32_t>(settings.max_running);
  serving.max_queued = static_cast<std::size_t>(settings.max_queued);
  LocalProviderOptions options;
  options.model_id = settings.model_id;
  options.usd_per_mtok_input = settings.usd_per_mtok_input;
  options.usd_per_mtok_output = settings.usd_per_mtok_output;
  return LocalProvider::start(settings.model_path, serving, options);
}

std::vector<std::unique_ptr<net::io_context>> make_io_contexts(int count) {
  std::vector<std::unique_ptr<net::io_context>> contexts;
  for (int i = 0; i < count; ++i) contexts.push_back(std::make_unique<net::io_context>(1));  // each run by one thread
  return contexts;
}

// The keys table, and what each key has spent this day and month according to the ledger.
std::unique_ptr<AccessControl> start_access_control(const pricing::Database& db) {
  const std::int64_t now_ms = unix_now_ms();
  auto spent = pricing::load_key_spend(db, pricing::utc_day_start_ms(now_ms), pricing::utc_month_start_ms(now_ms));
  return std::make_unique<AccessControl>(pricing::load_api_keys(db), std::move(spent), now_ms);
}

pricing::RedisOptions redis_options(const ServerConfig& config) {
  pricing::RedisOptions redis;
  pricing::parse_redis_url(config.redis_url, redis);  // validated with the config
  redis.command_timeout = config.shared_state_timeout;
  return redis;
}

// With redis_url, the fleet's counters, seeded with what the ledger says each key has spent.
std::unique_ptr<FleetLimits> start_fleet_limits(const ServerConfig& config, const pricing::Database& db) {
  if (config.redis_url.empty()) return nullptr;
  // A lease outlives the longest request: only a replica that died leaves one to expire.
  const auto lease = config.request_timeout + std::chrono::minutes(1);
  auto fleet = std::make_unique<FleetLimits>(redis_options(config), std::chrono::duration_cast<std::chrono::milliseconds>(lease),
                                             config.shared_state_failure);
  const std::int64_t now_ms = unix_now_ms();
  fleet->share_ledger_spend(pricing::load_key_spend(db, pricing::utc_day_start_ms(now_ms), pricing::utc_month_start_ms(now_ms)), now_ms);
  return fleet;
}

Error startup_error(std::string message) {
  return Error{1, FailureClass::permanent, "startup_error", {}, {}, std::move(message), 0};
}

// Without its keys and catalogue the gateway would answer wrongly (open to anyone, or routing blind), so a
// damaged file stops the start, with what to do about it.
std::string database_startup_message(const pricing::DatabaseError& error, const std::string& db_path) {
  std::string message = error.what();
  if (!error.damaged()) return message;
  return message + ". The database file '" + db_path + "' is damaged. Stop every process using it and keep a copy; " +
         "`sqlite3 " + db_path + " .recover | sqlite3 recovered.db` saves what can still be read (catalogue, keys, ledger); " +
         "then start with --db recovered.db, or move the file aside to start afresh";
}

pricing::RecorderOptions recorder_options(const ServerConfig& config) {
  pricing::RecorderOptions options;
  const std::string base = pricing::local_file_base(config.db_path, config.state_dir);
  options.spill_path = base + ".ledger-spill";
  options.journal_dir = base + ".journal";
  return options;
}

// The last resort for a ledger row neither the database nor the spill file took: the log, in full.
void log_unsaved_ledger_row(const pricing::LedgerRecord& row, const std::string& why) {
  nlohmann::json fields = {{"request_id", row.request_id},        {"created_at_ms", row.created_at_ms},
                           {"api_key_id", row.api_key_id},        {"requested_model", row.requested_model},
                           {"route", row.route},                  {"prompt_tokens", row.prompt_tokens},
                           {"completion_tokens", row.completion_tokens}, {"cost_usd", row.cost_usd},
                           {"ttft_ms", row.ttft_ms ? nlohmann::json(*row.ttft_ms) : nlohmann::json(nullptr)},
                           {"duration_ms", row.duration_ms},      {"status", row.status},
                           {"error_code", row.error_code},        {"routes_tried", row.routes_tried_json},
                           {"stream", row.stream}};
  log_error("ledger row not saved (" + why + "): " + fields.dump());
}

// An I/O thread that runs out of work polls on for `spin` before it sleeps in epoll_wait: an answer that
// comes within that time (a nearby upstream's, the client's next request) then costs no sleep and
// wake-up, which on a VM cost more than the rest of a request's way through the gateway. Each round
// yields the core, so that on a busy machine whoever else has work runs instead of the poll.
void run_polling_before_sleep(net::io_context& io, std::chrono::microseconds spin) {
  if (spin.count() == 0) return static_cast<void>(io.run());
  using Clock = std::chrono::steady_clock;
  Clock::time_point last_work = Clock::now();
  while (!io.stopped()) {
    if (io.poll() > 0) {
      last_work = Clock::now();
    } else if (Clock::now() - last_work < spin) {
      ::sched_yield();
    } else {
      io.run_one();
      last_work = Clock::now();
    }
  }
}

}  // namespace

Gateway::Gateway(ServerConfig config)
    : config_(std::move(config)), io_(make_io_contexts(config_.effective_io_threads())), acceptor_(net::make_strand(main_io())),
      drain_timer_(acceptor_.get_executor()), handover_timer_(acceptor_.get_executor()) {
  for (auto& io : io_) {
    keep_running_.push_back(net::make_work_guard(*io));
    timer_anchors_.push_back(std::make_unique<TimerAnchor>(*io));
  }
}

Gateway::~Gateway() {
  stop_now();
  wait();
}

Status Gateway::start() {
  if (Status valid = config_.validate(); !valid) return valid;
  std::vector<std::shared_ptr<Provider>> in_process = make_providers(config_, main_io());
  if (config_.local.enabled) {
    try {
      local_ = start_local_provider(config_.local);
    } catch (const std::exception& e) {
      return startup_error("local engine: " + std::string(e.what()) + " (start with a GGUF model the engine can run, or set local.enabled false)");
    }
    in_process.push_back(local_);
  }
  try {
    database_.emplace(pricing::Database::open(config_.db_path));
    RemoteProviders remote = make_remote_providers(pricing::load_catalogue(*database_).providers, main_io().get_executor(), config_);
    upstreams_ = remote.clients;
    log_unusable_providers(remote.unusable);
    routing_ = std::make_unique<RoutingState>(std::move(in_process), std::vector<std::shared_ptr<Provider>>(remote.clients.begin(), remote.clients.end()),
                                              RoutingOptions{RoutingPolicy::price, 0, config_.no_route_retry_after_s},
                                              std::move(remote.unusable), config_.circuit);
    routing_->reload(*database_);
    recorder_ = std::make_unique<pricing::UsageRecorder>(config_.db_path, &routing_->live_stats(), recorder_options(config_),
                                                         log_unsaved_ledger_row);
    access_ = start_access_control(*database_);
    fleet_ = start_fleet_limits(config_, *database_);
    if (!config_.redis_url.empty()) fleet_routes_ = std::make_unique<FleetRouteSync>(redis_options(config_), routing_->live_stats());
    key_admin_ = std::make_unique<KeyAdmin>(config_.db_path, *access_);
    std::vector<DatabaseWatch> watches = {
        {"the catalogue", pricing::catalogue_version, [this](const pricing::Database& db) { routing_->reload(db); }, {}},
        {"the API keys", pricing::keys_version, [this](const pricing::Database& db) { key_admin_->reload(db); },
         [this] { return key_admin_->applied_version(); }},
    };
    watcher_ = std::make_unique<DatabaseWatcher>(config_.db_path, std::move(watches), config_.catalogue_poll_interval);
    reports_ = std::make_unique<UsageReports>(config_.db_path);
    if (config_.access_log != "off") access_log_ = std::make_unique<AccessLog>(config_.access_log);
  } catch (const pricing::DatabaseError& e) {
    return startup_error(database_startup_message(e, config_.db_path));
  } catch (const std::exception& e) {
    return startup_error(e.what());
  }
  RequestObservers observers{recorder_.get(), &metrics_, access_log_.get(), &traffic_};
  ApiServices services{ExchangeServices{config_, state_, routing_->live_stats(), routing_->circuits(), observers}, *routing_};
  services.reports = reports_.get();
  services.local = local_.get();
  services.access = access_.get();
  services.fleet = fleet_.get();
  services.fleet_routes = fleet_routes_.get();
  services.key_admin = key_admin_.get();
  services.started_at_ms = unix_now_ms();
  api_ = std::make_unique<Api>(std::move(services));

  boost::system::error_code ec;
  tcp::endpoint endpoint(net::ip::make_address(config_.listen_host, ec), config_.listen_port);
  if (ec) return startup_error("listen address '" + config_.listen_host + "' is not an IP address: " + ec.message());
  if (Status listening = listen(endpoint); !listening) return listening;
  port_ = acceptor_.local_endpoint().port();
  accept_next();
  for (std::size_t i = 0; i < io_.size(); ++i) {
    threads_.emplace_back([this, i] {
      pthread_setname_np(pthread_self(), ("mg-io-" + std::to_string(i)).c_str());  // for top -H and perf
      run_io_thread(*io_[i]);
    });
  }
  return Ok{};
}

Status Gateway::listen(const tcp::endpoint& endpoint) {
  boost::system::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec && config_.reuse_port) acceptor_.set_option(net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return startup_error("cannot listen on " + config_.listen_host + ":" + std::to_string(config_.listen_port) + ": " + ec.message());
  }
  if (config_.reuse_port) steer_new_connections_to_newest_listener();
  return Ok{};
}

// The kernel keeps the listeners sharing a port in the order they joined and runs this one-instruction
// program to pick one for each new connection: "the second". While an older gateway drains, that is the
// newer one; once the older has closed, the index is out of range and the kernel falls back to its hash
// over the one listener left. So whichever gateway started last gets every new connection.
void Gateway::steer_new_connections_to_newest_listener() {
  sock_filter pick_second = BPF_STMT(BPF_RET | BPF_K, 1);
  sock_fprog program{1, &pick_second};
  if (::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program, sizeof program) != 0) {
    log_warn(std::string("reuse_port: cannot steer new connections to the newest gateway (") + std::strerror(errno) +
             "); a restart may reset connections queued for the old one");
  }
}

// Handlers must not throw; if a bug makes one do so anyway, log it and keep the thread serving rather than
// let std::terminate take every connection down.
void Gateway::run_io_thread(net::io_context& io) {
  while (true) {
    try {
      run_polling_before_sleep(io, config_.io_spin);
      return;
    } catch (const std::exception& e) {
      log_error(std::string("bug: an exception escaped an I/O handler: ") + e.what());
    }
  }
}

net::io_context& Gateway::next_session_io() {
  net::io_context& io = *io_[next_io_];
  next_io_ = (next_io_ + 1) % io_.size();
  return io;
}

void Gateway::accept_next() {
  acceptor_.async_accept(next_session_io().get_executor(), [this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      last_accept_ = std::chrono::steady_clock::now();
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      bool overloaded = static_cast<std::size_t>(state_.open_connections.load()) >= config_.http.max_connections;
      if (overloaded) state_.rejected_connections.fetch_add(1, std::memory_order_relaxed);
      std::make_shared<HttpSession>(std::move(socket), config_, *api_, state_, sessions_)->run(overloaded);
    }
    accept_next();  // accept errors (EMFILE, ECONNABORTED) are per-connection: keep accepting
  });
}

void Gateway::request_shutdown() {
  if (shutdown_requested_.exchange(true)) return;
  net::post(acceptor_.get_executor(), [this] {
    log_info("shutting down: no new connections; letting in-flight requests finish (grace " +
             std::to_string(config_.shutdown_grace.count()) + " ms)");
    state_.draining.store(true);
    if (config_.reuse_port) hand_over_listener(std::chrono::steady_clock::now() + kHandoverMax);
    else close_listener();
    for (auto& session : sessions_.live()) session->close_when_idle();
    drain_tick(std::chrono::steady_clock::now() + config_.shutdown_grace, false);
  });
}

// Closing a listener resets the connections still in its accept queue, so with SO_REUSEPORT the newer
// gateway takes the new ones (see steer_new_connections_to_newest_listener) while this one empties its
// queue, answering what comes, until nothing has arrived for a moment.
void Gateway::hand_over_listener(std::chrono::steady_clock::time_point give_up_at) {
  auto now = std::chrono::steady_clock::now();
  if (now - last_accept_ >= kHandoverQuiet || now >= give_up_at) return close_listener();
  handover_timer_.expires_after(kDrainPollInterval);
  handover_timer_.async_wait([this, give_up_at](boost::system::error_code ec) {
    if (!ec) hand_over_listener(give_up_at);
  });
}

void Gateway::close_listener() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

// Polls until nothing is in flight. When the grace period is over, unfinished answers are cancelled (a
// stream then ends with an in-band error and [DONE], a waiting client gets 503) and get a moment to say
// so before the connections close.
void Gateway::drain_tick(std::chrono::steady_clock::time_point deadline, bool cancelled) {
  bool idle = !acceptor_.is_open() && state_.connections_awaiting_first_request.load() == 0 &&
              state_.requests_being_read.load() == 0 && state_.requests_in_flight.load() == 0 && state_.active_generations.load() == 0;
  if (idle || (cancelled && std::chrono::steady_clock::now() >= deadline)) return stop_now();
  if (!cancelled && std::chrono::steady_clock::now() >= deadline) {
    log_warn("shutdown grace period over: cancelling " + std::to_string(state_.requests_in_flight.load()) + " unfinished requests");
    for (auto& session : sessions_.live()) session->cancel_request_from_any_thread();
    deadline = std::chrono::steady_clock::now() + kLastWordsTime;
    cancelled = true;
  }
  for (auto& session : sessions_.live()) session->close_when_idle();
  drain_timer_.expires_after(kDrainPollInterval);
  drain_timer_.async_wait([this, deadline, cancelled](boost::system::error_code ec) {
    if (!ec) drain_tick(deadline, cancelled);
  });
}

void Gateway::stop_now() {
  for (auto& session : sessions_.live()) session->close_now_from_any_thread();
  for (auto& io : io_) io->stop();
}

void Gateway::handle_signals() {
  signal_watch_ = std::make_unique<SignalWatch>(main_io());
  await_signal();
}

void Gateway::await_signal() {
  signal_watch_->signals.async_wait([this](boost::system::error_code ec, int number) {
    if (ec) return;
    if (signals_seen_.fetch_add(1) > 0) {
      log_warn("second signal: stopping now");
      return stop_now();
    }
    log_info(std::string("received ") + (number == SIGTERM ? "SIGTERM" : "SIGINT"));
    request_shutdown();
    await_signal();
  });
}

void Gateway::wait() {
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  watcher_.reset();
  reports_.reset();  // its thread posts to io_: it must be gone before io_ is
  fleet_.reset();    // so does the Redis thread, with the answers of admissions in flight
  fleet_routes_.reset();
  for (auto& upstream : upstreams_) upstream->pool().clear();  // idle sockets belong to io_ too
  if (local_) local_->serving().stop();  // its callbacks post to io_: they must end before io_ does
  if (recorder_) recorder_->stop();  // writes every ledger row still queued
}

}  // namespace mg::gateway
