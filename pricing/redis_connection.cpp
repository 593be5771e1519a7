#include "pricing/redis_connection.h"

#include <pthread.h>

#include <charconv>
#include <optional>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

namespace mg::pricing {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

bool parse_redis_url(const std::string& url, RedisOptions& options) {
  constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme)) return false;
  std::string_view rest = std::string_view(url).substr(kScheme.size());
  rest = rest.substr(0, rest.find('/'));
  std::size_t colon = rest.rfind(':');
  std::string_view host = rest.substr(0, colon);
  if (host.empty()) return false;
  options.host = std::string(host);
  options.port = 6379;
  if (colon == std::string_view::npos) return true;
  std::string_view port = rest.substr(colon + 1);
  unsigned value = 0;
  auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (error != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) return false;
  options.port = static_cast<std::uint16_t>(value);
  return true;
}

namespace {

RedisReply convert(const redisReply& reply) {
  RedisReply out;
  switch (reply.type) {
    case REDIS_REPLY_INTEGER: out.type = RedisReply::Type::integer, out.integer = reply.integer; break;
    case REDIS_REPLY_STRING: out.type = RedisReply::Type::text; break;
    case REDIS_REPLY_STATUS: out.type = RedisReply::Type::status; break;
    case REDIS_REPLY_ERROR: out.type = RedisReply::Type::error; break;
    case REDIS_REPLY_ARRAY: out.type = RedisReply::Type::array; break;
    default: out.type = RedisReply::Type::nil; break;
  }
  if (reply.str) out.text.assign(reply.str, reply.len);
  for (std::size_t i = 0; i < reply.elements; ++i) out.elements.push_back(convert(*reply.element[i]));
  return out;
}

// hiredis's socket, watched by Asio: hiredis says when it wants to read or write (its ev hooks), and
// each readiness calls back into hiredis. `alive` turns false when hiredis frees the context.
struct SocketWatcher : std::enable_shared_from_this<SocketWatcher> {
  SocketWatcher(asio::io_context& io, redisAsyncContext* opened) : socket(io, opened->c.fd), context(opened) {}

  asio::posix::stream_descriptor socket;
  redisAsyncContext* context;
  bool alive = true;
  bool want_read = false, want_write = false;
  bool reading = false, writing = false;

  void watch(bool read) {
    bool& wanted = read ? want_read : want_write;
    bool& waiting = read ? reading : writing;
    if (!alive || !wanted || waiting) return;
    waiting = true;
    socket.async_wait(read ? asio::posix::stream_descriptor::wait_read : asio::posix::stream_descriptor::wait_write,
                      [self = shared_from_this(), read](const boost::system::error_code& error) {
                        (read ? self->reading : self->writing) = false;
                        if (error || !self->alive || !(read ? self->want_read : self->want_write)) return;
                        read ? redisAsyncHandleRead(self->context) : redisAsyncHandleWrite(self->context);
                        self->watch(read);  // a no-op once hiredis freed the context
                      });
  }

  static SocketWatcher& of(void* data) { return *static_cast<SocketWatcher*>(data); }
  static void add_read(void* data) { of(data).want_read = true, of(data).watch(true); }
  static void del_read(void* data) { of(data).want_read = false; }
  static void add_write(void* data) { of(data).want_write = true, of(data).watch(false); }
  static void del_write(void* data) { of(data).want_write = false; }
  static void cleanup(void* data) {
    SocketWatcher& watcher = of(data);
    watcher.alive = false;
    watcher.socket.release();  // hiredis closes the socket; its waits end as aborted
  }
};

struct PendingCommand {
  RedisConnection::Callback done;
  Clock::time_point sent;
  asio::steady_timer deadline;
  bool finished = false;
};

}  // namespace

struct RedisConnection::Impl {
  explicit Impl(RedisOptions chosen)
      : options(std::move(chosen)), work(asio::make_work_guard(io)), connect_timer(io), reconnect_timer(io) {}

  RedisOptions options;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::thread thread;
  asio::steady_timer connect_timer, reconnect_timer;
  redisAsyncContext* context = nullptr;  // the io thread's alone
  std::shared_ptr<SocketWatcher> watcher;
  bool connected = false;
  bool stopping = false;

  std::atomic<bool> connected_flag{false};
  std::atomic<bool> closed{false};  // close() was called: commands fail at once
  std::atomic<std::int64_t> round_trip_ns{0}, commands{0}, failures{0};

  static Impl& of(const redisAsyncContext* context) { return *static_cast<Impl*>(context->data); }

  void connect() {
    if (stopping) return;
    redisAsyncContext* opened = redisAsyncConnect(options.host.c_str(), options.port);
    if (opened == nullptr || opened->err) {
      if (opened) redisAsyncFree(opened);
      return reconnect_later();
    }
    context = opened;
    context->data = this;
    watcher = std::make_shared<SocketWatcher>(io, context);
    context->ev.data = watcher.get();
    context->ev.addRead = SocketWatcher::add_read;
    context->ev.delRead = SocketWatcher::del_read;
    context->ev.addWrite = SocketWatcher::add_write;
    context->ev.delWrite = SocketWatcher::del_write;
    context->ev.cleanup = SocketWatcher::cleanup;
    redisAsyncSetConnectCallback(context, on_connect);
    redisAsyncSetDisconnectCallback(context, on_disconnect);
    connect_timer.expires_after(options.connect_timeout);
    connect_timer.async_wait([this](const boost::system::error_code& error) {
      if (!error && context && !connected) drop();
    });
  }

  void reconnect_later() {
    if (stopping) return;
    reconnect_timer.expires_after(options.reconnect_interval);
    reconnect_timer.async_wait([this](const boost::system::error_code& error) {
      if (!error) connect();
    });
  }

  // hiredis frees a context whose connection failed right after this call.
  static void on_connect(const redisAsyncContext* context, int status) {
    Impl& self = of(context);
    self.connect_timer.cancel();
    if (status == REDIS_OK) {
      self.preload_scripts();
      self.connected = true;
      self.connected_flag = true;
      return;
    }
    self.context = nullptr;
    self.reconnect_later();
  }

  void preload_scripts() {
    for (const std::string& script : options.preload_scripts) {
      const char* argv[] = {"SCRIPT", "LOAD", script.data()};
      const std::size_t lengths[] = {6, 4, script.size()};
      redisAsyncCommandArgv(context, nullptr, nullptr, 3, argv, lengths);
    }
  }

  static void on_disconnect(const redisAsyncContext* context, int) {
    Impl& self = of(context);
    self.lost();
  }

  void lost() {
    context = nullptr;
    connected = false;
    connected_flag = false;
    if (stopping) connect_timer.cancel();  // nothing left to wait for
    reconnect_later();
  }

  // Closes the connection now, failing what waits on it (a server past its deadline may never answer).
  void drop() {
    redisAsyncContext* closing = context;
    if (!closing) return;
    lost();
    redisAsyncFree(closing);
  }

  void fail(const Callback& done, const std::string& why) {
    failures.fetch_add(1);
    done(nullptr, why);
  }

  void send(std::vector<std::string> arguments, Callback done) {
    commands.fetch_add(1);
    if (!connected || !context) return fail(done, "the shared state server is unreachable");
    auto pending = std::make_shared<PendingCommand>(PendingCommand{std::move(done), Clock::now(), asio::steady_timer(io)});
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const std::string& argument : arguments) argv.push_back(argument.data()), lengths.push_back(argument.size());
    auto* box = new std::shared_ptr<PendingCommand>(pending);
    if (redisAsyncCommandArgv(context, on_reply, box, static_cast<int>(argv.size()), argv.data(), lengths.data()) != REDIS_OK) {
      delete box;
      return fail(pending->done, "the shared state server refused the command");
    }
    pending->deadline.expires_after(options.command_timeout);
    pending->deadline.async_wait([this, pending](const boost::system::error_code& error) {
      if (error || pending->finished) return;
      pending->finished = true;
      fail(pending->done, "the shared state server did not answer in time");
      drop();
    });
  }

  static void on_reply(redisAsyncContext* context, void* raw_reply, void* privdata) {
    std::unique_ptr<std::shared_ptr<PendingCommand>> box(static_cast<std::shared_ptr<PendingCommand>*>(privdata));
    PendingCommand& pending = **box;
    if (pending.finished) return;
    pending.finished = true;
    pending.deadline.cancel();
    Impl& self = of(context);
    if (raw_reply == nullptr) return self.fail(pending.done, "the connection to the shared state server broke");
    self.round_trip_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - pending.sent).count();
    RedisReply reply = convert(*static_cast<redisReply*>(raw_reply));
    if (reply.type == RedisReply::Type::error) self.failures.fetch_add(1);
    pending.done(&reply, "");
  }

  // Lets the commands already sent reach the server and answer (the settlements of a replica that is
  // stopping), for at most one command deadline; then closes.
  void stop() {
    stopping = true;
    connect_timer.cancel();
    reconnect_timer.cancel();
    work.reset();
    if (!connected || !context) return drop();
    connect_timer.expires_after(options.command_timeout);
    connect_timer.async_wait([this](const boost::system::error_code& error) {
      if (!error) drop();
    });
    redisAsyncDisconnect(context);  // closes once every reply is in: at once, when none is awaited
  }
};

RedisConnection::RedisConnection(RedisOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {
  Impl* impl = impl_.get();
  asio::post(impl->io, [impl] { impl->connect(); });
  impl->thread = std::thread([impl] {
    pthread_setname_np(pthread_self(), "mg-redis");
    impl->io.run();
  });
}

RedisConnection::~RedisConnection() { close(); }

void RedisConnection::close() {
  Impl* impl = impl_.get();
  if (impl->closed.exchange(true)) return;
  asio::post(impl->io, [impl] { impl->stop(); });
  impl->thread.join();
}

void RedisConnection::command(std::vector<std::string> arguments, Callback done) {
  Impl* impl = impl_.get();
  if (impl->closed) return impl->fail(done, "the connection to the shared state server is closed");
  asio::post(impl->io, [impl, arguments = std::move(arguments), done = std::move(done)]() mutable {
    impl->send(std::move(arguments), std::move(done));
  });
}

RedisStatus RedisConnection::status() const {
  return RedisStatus{impl_->connected_flag.load(), static_cast<double>(impl_->round_trip_ns.load()) / 1e6, impl_->commands.load(),
                     impl_->failures.load()};
}

}  // namespace mg::pricing
