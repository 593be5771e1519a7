#include "gateway/http_session.h"

#include <algorithm>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>

#include "gateway/exchange_accounting.h"
#include "gateway/log.h"
#include "gateway/request_framing.h"
#include "gateway/session_registry.h"
#include "core/write_batch.h"

namespace mg::gateway {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;

constexpr std::size_t kReadChunkBytes = 16 * 1024;
// Pipelined bytes kept while answering; past this the disconnect watch stops until the answer is done.
constexpr std::size_t kPipelinedBytesWhileAnswering = 64 * 1024;
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

// What the client's read buffer may hold: the headers, the pipelined bytes kept while answering, and one
// read. Beast's parser keeps a chunk's header line, extensions included, and the trailer section whole in
// this buffer until they end, with no limit of its own: the bound is what stops a client from growing
// the process with an endless chunk extension or trailer (answered 400 when it overflows).
std::size_t client_buffer_limit(const HttpLimits& limits) { return limits.max_header_bytes + kPipelinedBytesWhileAnswering + kReadChunkBytes; }

// The deadlines' timers wake at most this often, so no timeout of the steady state re-arms them.
Milliseconds shortest_timeout(const HttpLimits& limits) {
  return std::min({limits.header_timeout, limits.body_timeout, limits.idle_timeout, limits.write_timeout});
}

}  // namespace

HttpSession::HttpSession(net::ip::tcp::socket socket, const ServerConfig& config, Api& api, GatewayState& state,
                         SessionRegistry& registry)
    : socket_(std::move(socket)), executor_(socket_.get_executor()), config_(config), api_(api), state_(state), registry_(registry),
      buffer_(client_buffer_limit(config.http)),
      read_deadline_(executor_, shortest_timeout(config.http)), write_deadline_(executor_, shortest_timeout(config.http)) {
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
  // Read timeouts are answered with 408, so they cancel the read rather than close.
  read_deadline_.bind(weak_from_this(), [this] {
    read_timed_out_ = true;
    beast::error_code ignored;
    socket_.cancel(ignored);
  });
  write_deadline_.bind(weak_from_this(), [this] { on_client_gone(); });
  beast::error_code ignored;
  socket_.non_blocking(true, ignored);  // for write_at_once(); asynchronous operations do not mind
  net::dispatch(executor_, [self = shared_from_this(), overloaded] {
    if (!overloaded) return self->wait_for_request();
    self->fail_request(overloaded_error("the gateway is at its connection limit; retry shortly"));
  });
}

void HttpSession::close_when_idle() {
  net::post(executor_, [self = shared_from_this()] {
    if (self->phase_ != Phase::idle) return;
    // A request already in the socket is read and answered (with Connection: close), not cut off.
    boost::system::error_code ec;
    if (self->socket_.available(ec) > 0) return;
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
  net::post(executor_, [self = shared_from_this()] {
    if (self->request_in_flight_) self->cancellation_.cancel();
  });
}

void HttpSession::close_now_from_any_thread() {
  net::post(executor_, [self = shared_from_this()] { self->close_now(); });
}

// ---- reading ------------------------------------------------------------------------------------------

void HttpSession::arm_read_deadline(Milliseconds timeout) {
  read_timed_out_ = false;
  read_deadline_.expire_after(timeout);
}

// Keeps GatewayState::requests_being_read true to the sessions, so a drain waits for requests mid-upload.
void HttpSession::set_phase(Phase next) {
  auto reading = [](Phase phase) { return phase == Phase::reading_header || phase == Phase::reading_body; };
  if (reading(phase_) != reading(next)) state_.requests_being_read.fetch_add(reading(next) ? 1 : -1, std::memory_order_relaxed);
  phase_ = next;
}

void HttpSession::disarm_read_deadline() { read_deadline_.clear(); }

// Waits for the first byte of the next request under the idle timeout; the header timeout starts then.
// The disconnect watch's read, still in flight after an answer, becomes this wait.
void HttpSession::wait_for_request() {
  if (closed_) return;
  if (client_read_pending_ && buffer_.size() > 0) return take_back_client_read();
  if (!client_read_pending_) skip_empty_lines();
  // While draining, requests the client already sent are still answered; none are waited for, except a new
  // connection's first.
  bool draining = state_.draining.load();
  if (draining && buffer_.size() == 0 && !awaiting_first_request_) return close_now();
  set_phase(Phase::idle);
  if (buffer_.size() > 0) {
    // A pipelined request is already here. Parsed in a handler of its own: this may run inside the
    // previous answer's last write, itself inside that exchange's code.
    set_phase(Phase::reading_header);
    return net::post(executor_, [self = shared_from_this()] { self->read_header(); });
  }
  first_request_deadline_shortened_ = draining;
  arm_read_deadline(draining ? first_request_wait_while_draining() : config_.http.idle_timeout);
  read_from_client();
}

void HttpSession::read_from_client() {
  if (client_read_pending_ || closed_) return;
  client_read_pending_ = true;
  // Never past the buffer's limit (prepare() would throw): the callers keep it far below.
  socket_.async_read_some(buffer_.prepare(std::min(kReadChunkBytes, buffer_.max_size() - buffer_.size())), [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
    self->client_read_pending_ = false;
    if (self->closed_) return;
    self->buffer_.commit(bytes);
    self->on_client_bytes(ec);
  });
}

void HttpSession::on_client_bytes(beast::error_code ec) {
  if (phase_ == Phase::answering) return on_bytes_while_answering(ec);
  if (phase_ == Phase::closing) return ec ? close_now() : discard_until_closed();
  if (std::exchange(resume_after_cancel_, false)) return wait_for_request();
  disarm_read_deadline();
  if (ec) return close_now();  // idle timeout or the client closed: no request, no answer owed
  read_header();
}

// While an answer is being produced, a client that hangs up would otherwise go unnoticed until the next
// write. A read tells a hang-up (end of stream) from a pipelined request (bytes, kept for later).
void HttpSession::on_bytes_while_answering(beast::error_code ec) {
  if (!ec) {
    if (buffer_.size() < kPipelinedBytesWhileAnswering) read_from_client();
    return;
  }
  if (ec == net::error::operation_aborted) return;
  // A FIN after more requests were pipelined is a half-close: those requests are still owed answers, and
  // from now on only a failed write tells that the client has gone.
  if (ec == net::error::eof && buffer_.size() > 0) {
    peer_half_closed_ = true;
    return;
  }
  on_client_gone();
}

// Pipelined bytes arrived during the answer: the watch's read must end before they are parsed, since
// the parser reads into the same buffer. Rare, so a cancel is cheap enough.
void HttpSession::take_back_client_read() {
  set_phase(Phase::idle);
  resume_after_cancel_ = true;
  beast::error_code ignored;
  socket_.cancel(ignored);
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
  skip_empty_lines();
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(config_.http.max_header_bytes));
  parser_->body_limit(config_.http.max_body_bytes);
  arm_read_deadline(config_.http.header_timeout);
  if (auto ec = parse_buffered(&RequestParser::is_header_done); ec || parser_->is_header_done()) return on_header(ec);
  http::async_read_header(socket_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
    self->on_header(ec);
  });
}

// A request usually comes whole in one read: parsed from the buffer at once, it needs no asynchronous
// read, nor the handler round that one costs even when the bytes are already here. Feeds the parser
// until `enough` holds or the buffer runs out (then the asynchronous read goes on from there).
beast::error_code HttpSession::parse_buffered(bool (RequestParser::*enough)() const) {
  beast::error_code ec;
  while (buffer_.size() > 0 && !((*parser_).*enough)()) {
    std::size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == http::error::need_more) return {};
    if (ec) return ec;
    if (used == 0) break;
  }
  return {};
}

void HttpSession::on_header(beast::error_code ec) {
  disarm_read_deadline();
  if (ec) return on_read_failed(ec);
  http_version_ = parser_->get().version();
  if (auto refused = request_framing_error(parser_->get(), http_version_)) return fail_request(*refused);
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

// Like a large body, a request whose parsed form is large counts against the memory all requests hold:
// a small body of tiny values is parsed into many times its size, and is held until answered.
std::optional<Error> HttpSession::hold_parsed_bytes(std::size_t bytes) {
  if (bytes <= kUncountedBodyBytes) return std::nullopt;
  auto held = static_cast<std::size_t>(state_.buffered_body_bytes.fetch_add(static_cast<std::int64_t>(bytes)));
  body_reservation_ += bytes;
  if (held + bytes <= config_.http.max_buffered_body_bytes) return std::nullopt;
  state_.shed_requests.fetch_add(1, std::memory_order_relaxed);
  return overloaded_error("the gateway holds its limit of requests in memory; retry shortly");
}

void HttpSession::release_body_reservation() {
  state_.buffered_body_bytes.fetch_sub(static_cast<std::int64_t>(body_reservation_), std::memory_order_relaxed);
  body_reservation_ = 0;
}

void HttpSession::read_body() {
  set_phase(Phase::reading_body);
  arm_read_deadline(config_.http.body_timeout);
  if (auto ec = parse_buffered(&RequestParser::is_done); ec || parser_->is_done()) return on_body(ec);
  http::async_read(socket_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
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
  if (ec == http::error::buffer_overflow) {
    return fail_request(http_error(400, "malformed_http", "a chunk's header line or the trailer section is longer than " +
                                                              std::to_string(client_buffer_limit(config_.http)) + " bytes"));
  }
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

  std::string_view target = origin_form(request.target());
  HttpRequest view;
  view.method = std::string(request.method_string());
  view.path = std::string(target.substr(0, target.find('?')));
  if (view.path.size() < target.size()) view.query = std::string(target.substr(view.path.size() + 1));
  view.content_type = std::string(request[http::field::content_type]);
  view.authorization = client_credential(request);
  view.body = std::move(request.body());
  view.request_id = request_id_;
  try {
    api_.handle(std::move(view), shared_from_this());
  } catch (const std::exception& e) {  // the one catch at the top of the handler: a bug must not kill the server
    log_error(std::string("request ") + request_id_ + " failed with an exception: " + e.what());
    if (!answered_) send_reply(error_reply(Error{500, FailureClass::permanent, "server_error", "internal_error", {}, "internal error", 0}));
    else if (stream_started_) end_stream();
  }
  watch_for_disconnect();
}

// Started once the request is on its way upstream, not before: its read mostly finds nothing yet, and
// that system call would otherwise delay the upstream request. An answer already finished needs no watch
// (the wait for the next request reads instead).
void HttpSession::watch_for_disconnect() {
  if (phase_ == Phase::answering && !peer_half_closed_) read_from_client();
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
  if (writing_ || flush_deferred_) return;  // leaves with the next write
  // At once, unless a batch of upstream events is being turned into bytes: then at its end, together.
  flush_deferred_ = WriteBatch::defer([self = shared_from_this()] {
    self->flush_deferred_ = false;
    if (!self->closed_ && !self->writing_) self->write_next();
  });
  if (!flush_deferred_) write_next();
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
  if (write_at_once()) return write_next();
  std::vector<net::const_buffer> buffers = queued_buffers();
  write_deadline_.expire_after(config_.http.write_timeout);
  net::async_write(socket_, buffers, [self = shared_from_this()](beast::error_code ec, std::size_t written) {
    self->write_deadline_.clear();
    if (self->closed_) return;
    if (ec) return self->on_client_gone();
    self->drop_written(written);
    self->write_next();
  });
}

std::vector<net::const_buffer> HttpSession::queued_buffers() const {
  std::vector<net::const_buffer> buffers;
  buffers.reserve(write_queue_.size());
  for (const std::string& bytes : write_queue_) buffers.push_back(net::buffer(bytes));  // deque elements stay put
  return buffers;
}

// Most answers fit in the socket's send buffer: written at once, they need no completion handler round.
// What the socket does not take now goes the asynchronous way, which also reports any error. True when
// the whole queue went out.
bool HttpSession::write_at_once() {
  beast::error_code ec;
  std::size_t written = socket_.write_some(queued_buffers(), ec);  // the socket is non-blocking: never waits
  if (ec) return false;
  drop_written(written);
  return write_queue_.empty();
}

// Takes what a write sent off the front of the queue: whole strings (an empty one too: the end of a
// close-delimited stream), then the sent part of a string only partly sent.
void HttpSession::drop_written(std::size_t written) {
  queued_bytes_ -= written;
  while (!write_queue_.empty() && write_queue_.front().size() <= written) {
    written -= write_queue_.front().size();
    write_queue_.pop_front();
  }
  if (written > 0) write_queue_.front().erase(0, written);
}

void HttpSession::finish_response() {
  response_queued_ = false;
  release_body_reservation();
  if (request_in_flight_) {
    request_in_flight_ = false;
    state_.requests_in_flight.fetch_sub(1, std::memory_order_relaxed);
  }
  // A response without "Connection: close" promised to read on; wait_for_request() answers what was already
  // sent even while draining. After "close", nothing more is processed (RFC 9112 9.6).
  if (keep_alive_) return wait_for_request();
  linger_then_close();
}

// ---- disconnects and closing --------------------------------------------------------------------------

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
  socket_.shutdown(net::socket_base::shutdown_send, ignored);
  arm_read_deadline(kLingerTimeout);
  discard_until_closed();
}

// A disconnect watch still in flight reads on for the discard: its handler comes back here.
void HttpSession::discard_until_closed() {
  if (client_read_pending_) return;
  buffer_.clear();
  read_from_client();
}

void HttpSession::close_now() {
  if (closed_) return;
  closed_ = true;
  set_phase(Phase::closing);
  if (request_in_flight_) cancellation_.cancel();
  read_deadline_.clear();
  write_deadline_.clear();
  beast::error_code ignored;
  socket_.shutdown(net::socket_base::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace mg::gateway
