// The running gateway: database, providers, API, listener and I/O threads, with graceful shutdown.
// `modelgate serve` and the in-process tests both run exactly this.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gateway/access_control.h"
#include "gateway/access_log.h"
#include "gateway/api.h"
#include "gateway/database_watcher.h"
#include "gateway/key_admin.h"
#include "gateway/metrics.h"
#include "gateway/traffic_series.h"
#include "gateway/gateway_state.h"
#include "gateway/server_config.h"
#include "gateway/session_registry.h"
#include "gateway/timer_anchor.h"
#include "pricing/database.h"
#include "providers/local_provider.h"
#include "providers/openai_http_provider.h"

namespace mg::gateway {

struct SignalWatch;

class Gateway {
 public:
  explicit Gateway(ServerConfig config);
  ~Gateway();  // shuts down without grace if still running

  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Opens the database, binds the listener and starts the I/O threads; returns once accepting. Start-up
  // problems (bad database, port in use) come back as an error, never as a half-started server.
  Status start();
  std::uint16_t port() const { return port_; }
  const ServerConfig& config() const { return config_; }
  GatewayState& state() { return state_; }
  RoutingState& routing() { return *routing_; }
  pricing::UsageRecorder& recorder() { return *recorder_; }
  LocalProvider* local() { return local_.get(); }  // null when the local engine is off
  const AccessControl& access() const { return *access_; }  // after a successful start()

  // Graceful shutdown, from any thread: stop accepting, close idle connections, let in-flight answers finish
  // within shutdown_grace, then stop. Returns at once; wait() blocks until done.
  void request_shutdown();
  // Blocks until the gateway has stopped. Stops on SIGINT/SIGTERM too when `handle_signals`.
  void wait();
  // Installs SIGINT/SIGTERM handlers that call request_shutdown(); a second signal stops at once.
  void handle_signals();

 private:
  void run_io_thread(boost::asio::io_context& io);
  boost::asio::io_context& main_io() { return *io_.front(); }
  boost::asio::io_context& next_session_io();
  void accept_next();
  Status listen(const boost::asio::ip::tcp::endpoint& endpoint);
  void steer_new_connections_to_newest_listener();
  void hand_over_listener(std::chrono::steady_clock::time_point give_up_at);
  void close_listener();
  void drain_tick(std::chrono::steady_clock::time_point deadline, bool cancelled);
  void stop_now();
  void await_signal();

  // Order matters: what sessions and providers use (state, registry, api) is declared before io_, so it
  // outlives the handlers that io_'s destructor destroys; what uses io_ is declared after it.
  ServerConfig config_;
  GatewayState state_;
  SessionRegistry sessions_;
  std::optional<pricing::Database> database_;
  std::vector<std::shared_ptr<OpenAiHttpProvider>> upstreams_;
  std::shared_ptr<LocalProvider> local_;
  std::unique_ptr<RoutingState> routing_;
  std::unique_ptr<pricing::UsageRecorder> recorder_;
  std::unique_ptr<AccessControl> access_;
  std::unique_ptr<FleetLimits> fleet_;  // with redis_url only
  std::unique_ptr<FleetRouteSync> fleet_routes_;  // likewise
  std::unique_ptr<KeyAdmin> key_admin_;
  std::unique_ptr<DatabaseWatcher> watcher_;
  std::unique_ptr<UsageReports> reports_;
  RequestMetrics metrics_;
  TrafficSeries traffic_;
  std::unique_ptr<AccessLog> access_log_;
  std::unique_ptr<Api> api_;
  // One io_context per I/O thread: a connection, its exchanges and their upstream calls all live on one
  // thread, so an answer never waits for a wake-up of the other. One thread per io_context makes each an
  // implicit strand, so sessions use its executor as is, without a strand's locking and queueing. The
  // first also runs the listener, timers and signals.
  std::vector<std::unique_ptr<boost::asio::io_context>> io_;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> keep_running_;
  std::size_t next_io_ = 0;  // round-robin over io_ for new connections, on the acceptor's strand
  std::vector<std::unique_ptr<TimerAnchor>> timer_anchors_;  // one per io_
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer drain_timer_;
  boost::asio::steady_timer handover_timer_;
  std::chrono::steady_clock::time_point last_accept_;  // on the acceptor's strand
  std::unique_ptr<SignalWatch> signal_watch_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
  std::atomic<bool> shutdown_requested_{false};
  std::atomic<int> signals_seen_{0};
};

}  // namespace mg::gateway
