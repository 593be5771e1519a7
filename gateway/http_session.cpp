#include "gateway/http_session.h"

#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>

#include "gateway/exchange_accounting.h"
#include "gateway/log.h"
#include "gateway/session_registry.h"

namespace mg::gateway {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;

constexpr std::size_t kReadChunkBytes = 16 * 1024;
constexpr Milliseconds kLingerTimeout{2'000};
// While draining, a connection that has not sent its first request yet (it may have been accepted from the
// queue a moment ago) gets this long to send it, instead of being closed under the client's request.
constexpr Milliseconds kFirstRequestWhileDraining{1'000};

std::string new_request_id() { return "req_" + random_hex(24); }

// A client's id is echoed only when it is short and made of safe characters (it goes into a header).
bool is_acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (unsigned char c : id) {
    if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':' || c == '/' || c == '+' || c == '=')) return false;
  }
  return true;
}

Error http_error(int status, std::string code, std::string message) {
  return Error{status, FailureClass::caller_fault, "invalid_request_error", std::move(code), {}, std::move(message), 0};
}

// Load shed at the door: a short Retry-After, since capacity frees up as soon as answers finish.
constexpr int kOverloadRetryAfterS = 1;
// Everyday chat bodies are smaller than this; they are bounded by the connection limit instead, so that a
// flood of stalled large uploads cannot shut ordinary requests out.
constexpr std::size_t kUncountedBodyBytes = 64 * 1024;

Error overloaded_error(std::string message) {
  Error error = Error::unavailable(std::move(message), kOverloadRetryAfterS);
  error.code = "overloaded";
  return error;
}

bool is_disconnect(beast::error_code ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::operation_aborted || ec == net::error::broken_pipe;
}

std::string chunk_frame(std::string_view bytes) {
  char size[20];
  int length = std::snprintf(size, sizeof size, "%zx\r\n", bytes.size());
  std::string frame;
  frame.reserve(static_cast<std::size_t>(length) + bytes.size() + 2);
  frame.append(size, static_cast<std::size_t>(length)).append(bytes).append("\r\n");
  return frame;
}

}  // namespace

HttpSession::HttpSession(net::ip::tcp::socket socket, const ServerConfig& config, Api& api, GatewayState& state,
                         SessionRegistry& registry)
    : stream_(std::move(socket)), executor_(stream_.get_executor()), config_(config), api_(api), state_(state), registry_(registry),
      read_deadline_(stream_.get_executor()) {
  state_.open_connections.fetch_add(1, std::memory_order_relaxed);
  state_.connections_awaiting_first_request.fetch_add(1, std::memory_order_relaxed);
}

HttpSession::~HttpSession() {
  set_phase(Phase::closing);
  registry_.remove(this);
  if (request_in_flight_) state_.requests_in_flight.fetch_sub(1, std::memory_order_relaxed);
  release_body_reservation();
  first_request_begun();
  state_.open_connections.fetch_sub(1, std::memory_order_relaxed);
}

net::any_io_executor HttpSession::executor() const { return executor_; }

void HttpSession::run(bool overloaded) {
  registry_.add(shared_from_this());
  net::dispatch(stream_.get_executor(), [self = shared_from_this(), overloaded] {
    if (!overloaded) return self->wait_for_request();
    self->fail_request(overloaded_error("the gateway is at its connection limit; retry shortly"));
  });
}

void HttpSession::close_when_idle() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    if (self->phase_ != Phase::idle) return;
    // A request already in the socket is read and answered (with Connection: close), not cut off.
    boost::system::error_code ec;
    if (self->stream_.socket().available(ec) > 0) return;
    if (!self->awaiting_first_request_) return self->close_now();
    if (!self->first_request_deadline_shortened_) {
      self->first_request_deadline_shortened_ = true;
      self->arm_read_deadline(self->first_request_wait_while_draining());
    }
  });
}

Milliseconds HttpSession::first_request_wait_while_draining() const {
  return std::min(config_.http.idle_timeout, kFirstRequestWhileDraining);
}

void HttpSession::first_request_begun() {
  if (!awaiting_first_request_) return;
  awaiting_first_request_ = false;
  state_.connections_awaiting_first_request.fetch_sub(1, std::memory_order_relaxed);
}

void HttpSession::cancel_request_from_any_thread() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    if (self->request_in_flight_) self->cancellation_.cancel();
  });
}

void HttpSession::close_now_from_any_thread() {
  net::post(stream_.get_executor(), [self = shared_from_this()] { self->close_now(); });
}

// ---- reading ------------------------------------------------------------------------------------------

// Reads use read_deadline_ rather than the stream's own timeout so that a timeout can still be answered
// with 408. The generation makes a deadline that fires just as its read completes harmless.
void HttpSession::arm_read_deadline(Milliseconds timeout) {
  read_timed_out_ = false;
  stream_.expires_never();
  read_deadline_.expires_after(timeout);
  read_deadline_.async_wait([weak = weak_from_this(), generation = ++read_generation_](beast::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->closed_ || generation != self->read_generation_) return;
    self->read_timed_out_ = true;
    beast::error_code ignored;
    self->stream_.socket().cancel(ignored);
  });
}

// Keeps GatewayState::requests_being_read true to the sessions, so a drain waits for requests mid-upload.
void HttpSession::set_phase(Phase next) {
  auto reading = [](Phase phase) { return phase == Phase::reading_header || phase == Phase::reading_body; };
  if (reading(phase_) != reading(next)) state_.requests_being_read.fetch_add(reading(next) ? 1 : -1, std::memory_order_relaxed);
  phase_ = next;
}

void HttpSession::disarm_read_deadline() {
  ++read_generation_;
  read_deadline_.cancel();
}

// Waits for the first byte of the next request under the idle timeout; the header timeout starts then.
void HttpSession::wait_for_request() {
  if (closed_) return;
  skip_empty_lines();
  // While draining, requests the client already sent are still answered; none are waited for, except a new
  // connection's first.
  bool draining = state_.draining.load();
  if (draining && buffer_.size() == 0 && !awaiting_first_request_) return close_now();
  set_phase(Phase::idle);
  if (buffer_.size() > 0) return read_header();  // a pipelined request is already here
  first_request_deadline_shortened_ = draining;
  arm_read_deadline(draining ? first_request_wait_while_draining() : config_.http.idle_timeout);
  stream_.async_read_some(buffer_.prepare(kReadChunkBytes), [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
    self->disarm_read_deadline();
    if (ec) return self->close_now();  // idle timeout or the client closed: no request, no answer owed
    self->buffer_.commit(bytes);
    self->read_header();
  });
}

// RFC 9112 2.2: a server should ignore empty lines received before a request line.
void HttpSession::skip_empty_lines() {
  auto data = static_cast<const char*>(buffer_.data().data());
  std::size_t skip = 0;
  while (skip < buffer_.size() && (data[skip] == '\r' || data[skip] == '\n')) ++skip;
  buffer_.consume(skip);
}

void HttpSession::read_header() {
  set_phase(Phase::reading_header);
  first_request_begun();
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(config_.http.max_header_bytes));
  parser_->body_limit(config_.http.max_body_bytes);
  arm_read_deadline(config_.http.header_timeout);
  http::async_read_header(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
    self->on_header(ec);
  });
}

void HttpSession::on_header(beast::error_code ec) {
  disarm_read_deadline();
  if (ec) return on_read_failed(ec);
  http_version_ = parser_->get().version();
  if (auto shed = reserve_capacity()) return fail_request(*shed);
  if (parser_->is_done()) return dispatch_request();
  auto expect = parser_->get()[http::field::expect];
  if (http_version_ >= 11 && beast::iequals(expect, "100-continue")) enqueue("HTTP/1.1 100 Continue\r\n\r\n", false);
  read_body();
}

// Admits the request whose headers were just read, reserving its body's bytes; or says why it is shed.
// The counters are shared by every I/O thread, so the bounds hold to within one request per thread.
std::optional<Error> HttpSession::reserve_capacity() {
  const HttpLimits& limits = config_.http;
  // Only the API's work is shed: probes, metrics and the dashboard must answer while the gateway is full.
  bool api_request = parser_->get().target().starts_with("/v1/");
  if (api_request && static_cast<std::size_t>(state_.requests_in_flight.load(std::memory_order_relaxed)) >= limits.max_requests_in_flight) {
    state_.shed_requests.fetch_add(1, std::memory_order_relaxed);
    return overloaded_error("the gateway is answering its limit of " + std::to_string(limits.max_requests_in_flight) +
                            " requests at once; retry shortly");
  }
  // Without a Content-Length a chunked body may grow to the limit, so it reserves the limit.
  std::size_t body_bytes = parser_->content_length() ? static_cast<std::size_t>(*parser_->content_length())
                           : parser_->chunked()      ? limits.max_body_bytes
                                                     : 0;
  body_bytes = std::min(body_bytes, limits.max_body_bytes);  // a larger one is refused with 413 while it is read
  if (body_bytes <= kUncountedBodyBytes) return std::nullopt;
  auto held = static_cast<std::size_t>(state_.buffered_body_bytes.fetch_add(static_cast<std::int64_t>(body_bytes)));
  body_reservation_ = body_bytes;
  if (held + body_bytes > limits.max_buffered_body_bytes) {
    release_body_reservation();
    state_.shed_requests.fetch_add(1, std::memory_order_relaxed);
    return overloaded_error("the gateway holds its limit of request bodies in memory; retry shortly");
  }
  return std::nullopt;
}

void HttpSession::release_body_reservation() {
  state_.buffered_body_bytes.fetch_sub(static_cast<std::int64_t>(body_reservation_), std::memory_order_relaxed);
  body_reservation_ = 0;
}

void HttpSession::read_body() {
  set_phase(Phase::reading_body);
  arm_read_deadline(config_.http.body_timeout);
  http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
    self->on_body(ec);
  });
}

void HttpSession::on_body(beast::error_code ec) {
  disarm_read_deadline();
  if (ec) return on_read_failed(ec);
  dispatch_request();
}

void HttpSession::on_read_failed(beast::error_code ec) {
  if (closed_) return;
  if (read_timed_out_) {
    bool headers = phase_ == Phase::reading_header;
    auto limit = headers ? config_.http.header_timeout : config_.http.body_timeout;
    return fail_request(http_error(408, "request_timeout", std::string("the request ") + (headers ? "headers" : "body") +
                                                               " did not arrive within " + std::to_string(limit.count()) + " ms"));
  }
  if (ec == http::error::header_limit) {
    return fail_request(http_error(431, "headers_too_large", "request headers exceed " + std::to_string(config_.http.max_header_bytes) + " bytes"));
  }
  if (ec == http::error::body_limit) {
    return fail_request(http_error(413, "request_too_large", "request body exceeds the limit of " + std::to_string(config_.http.max_body_bytes) + " bytes"));
  }
  if (is_disconnect(ec)) return close_now();
  fail_request(http_error(400, "malformed_http", "malformed HTTP request: " + ec.message()));
}

// ---- answering ----------------------------------------------------------------------------------------

void HttpSession::dispatch_request() {
  set_phase(Phase::answering);
  http::request<http::string_body> request = parser_->release();
  parser_.reset();
  auto client_id = request["x-request-id"];
  request_id_ = is_acceptable_request_id(client_id) ? std::string(client_id) : new_request_id();
  keep_alive_ = request.keep_alive() && !state_.draining.load();
  head_only_ = request.method() == http::verb::head;
  answered_ = false;
  stream_started_ = false;
  cancellation_ = CancellationToken{};
  request_in_flight_ = true;
  state_.requests_in_flight.fetch_add(1, std::memory_order_relaxed);
  state_.requests_total.fetch_add(1, std::memory_order_relaxed);
  watch_for_disconnect();

  std::string_view target = request.target();
  HttpRequest view;
  view.method = std::string(request.method_string());
  view.path = std::string(target.substr(0, target.find('?')));
  if (view.path.size() < target.size()) view.query = std::string(target.substr(view.path.size() + 1));
  view.content_type = std::string(request[http::field::content_type]);
  view.authorization = std::string(request[http::field::authorization]);
  view.body = std::move(request.body());
  view.request_id = request_id_;
  try {
    api_.handle(std::move(view), shared_from_this());
  } catch (const std::exception& e) {  // the one catch at the top of the handler: a bug must not kill the server
    log_error(std::string("request ") + request_id_ + " failed with an exception: " + e.what());
    if (!answered_) send_reply(error_reply(Error{500, FailureClass::permanent, "server_error", "internal_error", {}, "internal error", 0}));
    else if (stream_started_) end_stream();
  }
}

// Answers a request that could not be read; the connection closes after the answer.
void HttpSession::fail_request(const Error& error) {
  if (phase_ != Phase::reading_body) http_version_ = 11;  // the request line may never have been read
  set_phase(Phase::answering);
  keep_alive_ = false;
  answered_ = false;
  head_only_ = false;
  request_id_ = new_request_id();
  send_reply(error_reply(error));
}

std::string HttpSession::serialize_head(const HttpReply& reply, std::optional<std::size_t> content_length) {
  if (state_.draining.load()) keep_alive_ = false;
  std::string head = http_version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  head += std::to_string(reply.status);
  head += ' ';
  head += http::obsolete_reason(http::int_to_status(reply.status));
  head += "\r\nServer: modelgate\r\nContent-Type: ";
  head += reply.content_type;
  head += "\r\nx-request-id: " + request_id_ + "\r\n";
  for (const auto& [name, value] : reply.headers) head += name + ": " + value + "\r\n";
  if (content_length) head += "Content-Length: " + std::to_string(*content_length) + "\r\n";
  else if (http_version_ != 10) head += "Transfer-Encoding: chunked\r\n";
  if (!keep_alive_) head += "Connection: close\r\n";
  else if (http_version_ == 10) head += "Connection: keep-alive\r\n";
  head += "\r\n";
  return head;
}

void HttpSession::send_reply(HttpReply reply) {
  if (closed_ || answered_) return;
  answered_ = true;
  std::string bytes = serialize_head(reply, reply.body.size());
  if (!head_only_) bytes += reply.body;
  enqueue(std::move(bytes), true);
}

void HttpSession::start_stream(HttpReply head) {
  if (closed_ || answered_) return;
  answered_ = true;
  stream_started_ = true;
  if (http_version_ == 10) keep_alive_ = false;  // no chunked encoding: the end of the body is the end of the connection
  std::string bytes = serialize_head(head, std::nullopt);
  if (!head.body.empty()) bytes += http_version_ == 10 ? head.body : chunk_frame(head.body);
  enqueue(std::move(bytes), false);
}

void HttpSession::write_stream(std::string bytes) {
  if (closed_ || !stream_started_ || response_queued_ || bytes.empty()) return;
  if (queued_bytes_ + bytes.size() > config_.http.max_pending_stream_bytes) {
    log_warn("request " + request_id_ + ": client reads too slowly; closing the stream");
    return on_client_gone();
  }
  enqueue(http_version_ == 10 ? std::move(bytes) : chunk_frame(bytes), false);
}

void HttpSession::end_stream() {
  if (closed_ || !stream_started_ || response_queued_) return;
  enqueue(http_version_ == 10 ? std::string() : std::string("0\r\n\r\n"), true);
}

void HttpSession::enqueue(std::string bytes, bool ends_response) {
  if (closed_) return;
  if (ends_response) response_queued_ = true;
  queued_bytes_ += bytes.size();
  write_queue_.push_back(std::move(bytes));
  if (!writing_) write_next();  // at once: the first bytes of an answer must not wait for the rest
}

// Writes everything queued so far with one gathering write: what queues up while a write is in flight
// (a burst of stream events) leaves together in the next.
void HttpSession::write_next() {
  if (write_queue_.empty()) {
    writing_ = false;
    if (response_queued_) finish_response();
    return;
  }
  writing_ = true;
  std::vector<net::const_buffer> buffers;
  buffers.reserve(write_queue_.size());
  for (const std::string& bytes : write_queue_) buffers.push_back(net::buffer(bytes));  // deque elements stay put
  stream_.expires_after(config_.http.write_timeout);
  net::async_write(stream_, buffers, [self = shared_from_this(), count = buffers.size()](beast::error_code ec, std::size_t written) {
    if (self->closed_) return;
    if (ec) return self->on_client_gone();
    self->queued_bytes_ -= written;
    self->write_queue_.erase(self->write_queue_.begin(), self->write_queue_.begin() + static_cast<std::ptrdiff_t>(count));
    self->write_next();
  });
}

void HttpSession::finish_response() {
  response_queued_ = false;
  release_body_reservation();
  if (request_in_flight_) {
    request_in_flight_ = false;
    state_.requests_in_flight.fetch_sub(1, std::memory_order_relaxed);
  }
  if (watching_) {
    beast::error_code ignored;
    stream_.socket().cancel(ignored);  // stops the disconnect watch
  }
  // A response without "Connection: close" promised to read on; wait_for_request() answers what was already
  // sent even while draining. After "close", nothing more is processed (RFC 9112 9.6).
  if (keep_alive_) return wait_for_request();
  linger_then_close();
}

// ---- disconnects and closing --------------------------------------------------------------------------

// While an answer is being produced nothing reads the socket, so a client that hangs up would go unnoticed
// until the next write. Waiting for readability and peeking tells a hang-up (0 bytes) from a pipelined
// request (data, left in the socket for the next read).
void HttpSession::watch_for_disconnect() {
  if (peer_half_closed_) return;
  watching_ = true;
  stream_.socket().async_wait(net::socket_base::wait_read, [self = shared_from_this()](beast::error_code ec) {
    self->watching_ = false;
    if (self->closed_ || !self->request_in_flight_ || ec == net::error::operation_aborted) return;
    if (ec) return self->on_client_gone();
    char byte = 0;
    ssize_t peeked = ::recv(self->stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    // A FIN after more requests were pipelined is a half-close: those requests are still owed answers,
    // and from now on only a failed write tells that the client has gone.
    if (peeked == 0 && self->buffer_.size() > 0) {
      self->peer_half_closed_ = true;
      return;
    }
    if (peeked == 0 || (peeked < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return self->on_client_gone();
    if (peeked < 0) self->watch_for_disconnect();  // spurious wake-up
  });
}

void HttpSession::on_client_gone() {
  cancellation_.cancel();
  close_now();
}

// Half-closes and drains what the client still sends, so our answer is not lost to a TCP reset when the
// client is mid-way through an oversized body. Bounded by one deadline for the whole drain.
void HttpSession::linger_then_close() {
  if (closed_) return;
  set_phase(Phase::closing);
  beast::error_code ignored;
  stream_.socket().shutdown(net::socket_base::shutdown_send, ignored);
  arm_read_deadline(kLingerTimeout);
  discard_until_closed();
}

void HttpSession::discard_until_closed() {
  buffer_.clear();
  stream_.async_read_some(buffer_.prepare(kReadChunkBytes), [self = shared_from_this()](beast::error_code ec, std::size_t) {
    if (!ec && !self->closed_) return self->discard_until_closed();
    self->disarm_read_deadline();
    self->close_now();
  });
}

void HttpSession::close_now() {
  if (closed_) return;
  closed_ = true;
  set_phase(Phase::closing);
  if (request_in_flight_) cancellation_.cancel();
  read_deadline_.cancel();
  beast::error_code ignored;
  stream_.socket().shutdown(net::socket_base::shutdown_both, ignored);
  stream_.close();
}

}  // namespace mg::gateway
