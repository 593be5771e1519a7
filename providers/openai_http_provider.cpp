#include "providers/openai_http_provider.h"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include "core/deadline.h"
#include "core/json_text.h"
#include "formats/anthropic_upstream.h"
#include "formats/openai_embeddings.h"
#include "formats/openai_wire.h"
#include "providers/upstream_attempt.h"
#include "core/write_batch.h"

namespace mg {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr std::size_t kErrorBodyLimit = 64 * 1024;
constexpr std::chrono::seconds kDnsCacheTtl{60};

// The deadline's timer wakes at most this often, so none of the call's own timeouts re-arms it.
std::chrono::milliseconds shortest_timeout(const UpstreamOptions& options) {
  return std::min({options.connect_timeout, options.first_byte_timeout, options.idle_timeout});
}

Error transport_error(const std::string& provider, const std::string& what, beast::error_code ec) {
  bool timed_out = ec == beast::error::timeout;
  return Error{timed_out ? 504 : 502, timed_out ? FailureClass::timeout : FailureClass::transient, "upstream_error",
               timed_out ? "upstream_timeout" : "upstream_unreachable", {}, provider + ": " + what + ": " + ec.message(), 0};
}

const char* endpoint_path(WireApi wire, ApiFlavor flavor) {
  if (wire == WireApi::anthropic_messages) return "/messages";
  switch (flavor) {
    case ApiFlavor::completion: return "/completions";
    case ApiFlavor::embedding: return "/embeddings";
    case ApiFlavor::chat: break;
  }
  return "/chat/completions";
}

// One request to the upstream, start to finish, on the caller's strand (or one of its own). Exactly one
// terminal event.
class UpstreamCall : public std::enable_shared_from_this<UpstreamCall> {
 public:
  UpstreamCall(std::shared_ptr<OpenAiHttpProvider> provider, std::shared_ptr<const ChatRequest> request, std::string body,
               RequestContext context, EventSink sink)
      : provider_(std::move(provider)), request_(std::move(request)), context_(std::move(context)), sink_(std::move(sink)),
        io_executor_(context_.executor ? context_.executor : provider_->executor()),
        strand_(context_.executor ? context_.executor : net::make_strand(io_executor_)),
        resolver_(strand_),
        deadline_(strand_, shortest_timeout(provider_->options())) {
    start_attempt();
    build_http_request(std::move(body));
  }

  void start() {
    // A timeout cancels the operation in flight; its handler reports the timeout (see outcome()).
    deadline_.bind(weak_from_this(), [this] {
      timed_out_ = true;
      if (stream_) stream_->tcp().cancel();
      resolver_.cancel();
    });
    std::weak_ptr<UpstreamCall> weak = weak_from_this();
    context_.cancellation.on_cancel([weak] {
      if (auto self = weak.lock()) {
        net::post(self->strand_, [self] {
          self->cancelled_ = true;
          if (self->stream_) self->stream_->tcp().cancel();
          self->resolver_.cancel();
        });
      }
    });
    // On the caller's strand with a pooled connection, the request leaves now instead of a handler round
    // later: that path completes nothing inline, so the caller's sink is not re-entered from here.
    if (running_in_this_thread(context_.executor) && take_pooled_connection()) return send_request();
    net::post(strand_, [self = shared_from_this()] { self->acquire_connection(true); });
  }

 private:
  const std::string& name() const { return provider_->name(); }

  // An operation's result, as the caller sees it: one cancelled by the deadline timed out.
  beast::error_code outcome(beast::error_code ec) {
    deadline_.clear();
    bool timed_out = std::exchange(timed_out_, false);
    return ec && timed_out ? beast::error::timeout : ec;
  }

  // Checked whenever control comes back from I/O: a cancelled call ends there, with its one terminal event.
  bool stopped_by_cancel() {
    if (!cancelled_) return false;
    finish_with(Error::cancelled("the request was cancelled"));
    return true;
  }

  // The request's bytes, head and body, written directly: Beast's fields and serializer cost more than
  // the rest of the call's setup. Sent again as they are when a stale pooled connection forces a retry.
  void build_http_request(std::string body) {
    const UpstreamOptions& options = provider_->options();
    const Dialect& dialect = options.dialect;
    std::string& out = wire_request_;
    out.reserve(512 + body.size());
    out += "POST ";
    out += provider_->base_url().path_prefix;
    out += endpoint_path(dialect.wire, request_->flavor);
    out += " HTTP/1.1\r\n";
    append_header(out, "Host", provider_->base_url().host_header());
    append_header(out, "User-Agent", "modelgate");
    append_header(out, "Content-Type", "application/json");
    append_header(out, "Accept", request_->stream ? "text/event-stream" : "application/json");
    if (!options.api_key.empty() && !dialect.auth_header.empty()) append_header(out, dialect.auth_header, dialect.auth_prefix + options.api_key);
    for (const auto& [name, value] : dialect.extra_headers) append_header(out, name, value);
    append_header(out, "Content-Length", std::to_string(body.size()));
    out += "\r\n";
    out += body;
  }

  static void append_header(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }

  // A fresh start for what one attempt reads and decodes (see upstream_attempt.h).
  void start_attempt() {
    attempt_.emplace(make_answer_decoder(provider_->options().dialect.wire, *request_),
                     provider_->options().api_key,
                     [this](SseEvent&& event) { on_sse_event(std::move(event)); },
                     [this](std::string_view comment) { deliver_single(UpstreamComment{std::string(comment)}); });
  }

  // An idle connection of this thread's, if the pool has one.
  bool take_pooled_connection() {
    auto pooled = provider_->pool().take(net::query(io_executor_, net::execution::context));
    if (!pooled) return false;
    stream_.emplace(std::move(*pooled));
    reused_ = true;
    return true;
  }

  void acquire_connection(bool allow_pooled = true) {
    if (stopped_by_cancel()) return;
    if (allow_pooled && take_pooled_connection()) return send_request();
    reused_ = false;
    if (auto endpoints = provider_->pool().cached_endpoints()) return connect(*endpoints);
    deadline_.expire_after(provider_->options().connect_timeout);
    resolver_.async_resolve(provider_->base_url().host, std::to_string(provider_->base_url().port),
                            net::bind_executor(strand_, [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
                              ec = self->outcome(ec);
                              if (self->stopped_by_cancel()) return;
                              if (ec) return self->finish_with(transport_error(self->name(), "cannot resolve the upstream's host name", ec));
                              self->provider_->pool().cache_endpoints(results, kDnsCacheTtl);
                              self->connect(results);
                            }));
  }

  void connect(const tcp::resolver::results_type& endpoints) {
    if (auto* context = provider_->tls_context()) stream_.emplace(UpstreamStream::Tls(io_executor_, *context));
    else stream_.emplace(UpstreamStream::Plain(io_executor_));
    deadline_.expire_after(provider_->options().connect_timeout);
    stream_->tcp().async_connect(endpoints, net::bind_executor(strand_, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
      ec = self->outcome(ec);
      if (self->stopped_by_cancel()) return;
      if (ec) return self->finish_with(transport_error(self->name(), "cannot connect", ec));
      self->stream_->tcp().socket().set_option(tcp::no_delay(true), ec);
      if (self->stream_->tls()) return self->handshake();
      self->send_request();
    }));
  }

  // TLS always sends SNI and verifies the peer: its chain against the trusted CAs, and its name.
  void handshake() {
    UpstreamStream::Tls& tls = *stream_->tls();
    const std::string& host = provider_->base_url().host;
    if (!SSL_set_tlsext_host_name(tls.native_handle(), host.c_str())) {
      return finish_with(Error::upstream(name() + ": cannot set the TLS server name", FailureClass::permanent));
    }
    tls.set_verify_callback(net::ssl::host_name_verification(host));
    deadline_.expire_after(provider_->options().connect_timeout);
    tls.async_handshake(net::ssl::stream_base::client, net::bind_executor(strand_, [self = shared_from_this()](beast::error_code ec) {
      ec = self->outcome(ec);
      if (self->stopped_by_cancel()) return;
      if (ec) {
        // A peer that cannot prove who it is will not improve on a retry: permanent, so the router moves on.
        Error error = transport_error(self->name(), "TLS handshake failed", ec);
        error.failure = FailureClass::permanent;
        error.code = "upstream_tls_failed";
        return self->finish_with(std::move(error));
      }
      self->send_request();
    }));
  }

  void send_request() {
    if (sent_at_once()) return read_head();
    deadline_.expire_after(provider_->options().first_byte_timeout);
    auto on_sent = net::bind_executor(strand_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      ec = self->outcome(ec);
      if (self->stopped_by_cancel()) return;
      if (ec) return self->retry_or_fail("cannot send the request", ec);
      self->read_head();
    });
    net::const_buffer rest = net::buffer(wire_request_) + attempt_->bytes_sent;
    stream_->visit([&](auto& stream) { net::async_write(stream, rest, on_sent); });
  }

  // A request the socket takes at once (the usual case: a few hundred bytes into an idle connection)
  // needs no completion handler round. What it does not take, and any error, the asynchronous write
  // then goes on with; TLS always goes that way.
  bool sent_at_once() {
    std::size_t& sent = attempt_->bytes_sent;
    sent = 0;
    UpstreamStream::Plain* plain = stream_->plain();
    if (!plain) return false;
    beast::error_code ec;
    if (!plain->socket().non_blocking()) plain->socket().non_blocking(true, ec);  // a full send buffer then says so
    while (!ec && sent < wire_request_.size()) sent += plain->socket().write_some(net::buffer(wire_request_) + sent, ec);
    return sent == wire_request_.size();
  }

  // A pooled connection the upstream has meanwhile closed fails before any answer (its head may have
  // begun): try once more on a fresh one, with a fresh attempt. Nothing has reached the client, so this is
  // invisible. Once a whole head has arrived the upstream has answered, and may bill: never retried.
  void retry_or_fail(const std::string& what, beast::error_code ec) {
    stream_.reset();
    if (!reused_ || attempt_->head_received) return finish_with(transport_error(name(), what, ec));
    start_attempt();
    acquire_connection(false);
  }

  void read_head() {
    attempt_->parser.emplace();
    attempt_->parser->body_limit(boost::none);
    deadline_.expire_after(provider_->options().first_byte_timeout);  // from the request's last byte
    auto on_head = net::bind_executor(strand_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      ec = self->outcome(ec);
      if (self->stopped_by_cancel()) return;
      if (ec) return self->retry_or_fail("no answer", ec);
      self->on_head();
    });
    stream_->visit([&](auto& stream) { http::async_read_header(stream, attempt_->buffer, *attempt_->parser, on_head); });
  }

  void on_head() {
    attempt_->head_received = true;
    auto& head = attempt_->parser->get();
    attempt_->status = head.result_int();
    auto content_type = head[http::field::content_type];
    attempt_->streaming = attempt_->status == 200 && content_type.starts_with("text/event-stream");
    if (attempt_->status == 200 && !attempt_->streaming && !content_type.starts_with("application/json")) {
      return finish_with(Error::upstream(name() + ": answered with content type '" + std::string(content_type) + "', not JSON or an event stream",
                                         FailureClass::transient));
    }
    auto retry_after = head[http::field::retry_after];
    if (!retry_after.empty()) attempt_->retry_after_s = std::atoi(std::string(retry_after).c_str());
    parse_buffered_body();
  }

  void read_body_chunk() {
    if (attempt_->parser->is_done()) return on_body_complete();
    attempt_->parser->get().body().data = chunk_;
    attempt_->parser->get().body().size = sizeof chunk_;
    deadline_.expire_after(attempt_->streaming ? provider_->options().idle_timeout : provider_->options().first_byte_timeout);
    auto on_chunk = net::bind_executor(strand_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_body_chunk(self->outcome(ec));
    });
    stream_->visit([&](auto& stream) { http::async_read_some(stream, attempt_->buffer, *attempt_->parser, on_chunk); });
  }

  void on_body_chunk(beast::error_code ec) {
    if (ec == http::error::need_buffer) ec = {};
    if (stopped_by_cancel()) return;
    if (ec) {
      stream_.reset();
      return finish_with(transport_error(name(), attempt_->streaming ? "the stream broke" : "the answer broke off", ec));
    }
    if (!take_body_bytes()) return;
    parse_buffered_body();
  }

  // The body bytes the parser just put into chunk_; false when they end the call.
  bool take_body_bytes() {
    std::string_view bytes(chunk_, sizeof chunk_ - attempt_->parser->get().body().size);
    if (attempt_->streaming) {
      if (Status fed = attempt_->sse.feed(bytes); !fed) {
        finish_with(fed.error());
        return false;
      }
      return true;
    }
    std::size_t limit = attempt_->status == 200 ? provider_->options().max_body_bytes : kErrorBodyLimit;
    if (attempt_->whole_body.size() + bytes.size() > limit) {
      stream_.reset();
      finish_with(Error::upstream(name() + ": answer larger than " + std::to_string(limit) + " bytes", FailureClass::transient));
      return false;
    }
    attempt_->whole_body.append(bytes);
    return true;
  }

  // What one read brought often holds several chunks of the body (several SSE events): parse them all
  // now, so they leave together, instead of a read operation and a handler round for each.
  void parse_buffered_body() {
    WriteBatch batch;  // and what they make the client's writers send leaves in one write each
    attempt_->parser->eager(true);  // put() goes on through every chunk it has; async_read_some must not (it would
                           // wait for more rather than report what it has)
    while (!attempt_->parser->is_done() && attempt_->buffer.size() > 0) {
      attempt_->parser->get().body().data = chunk_;
      attempt_->parser->get().body().size = sizeof chunk_;
      beast::error_code ec;
      std::size_t used = attempt_->parser->put(attempt_->buffer.data(), ec);
      attempt_->buffer.consume(used);
      bool wrote = attempt_->parser->get().body().size != sizeof chunk_;
      if (ec && ec != http::error::need_more && ec != http::error::need_buffer) {
        stream_.reset();
        return finish_with(transport_error(name(), "malformed HTTP answer", ec));
      }
      if (wrote && !take_body_bytes()) return;
      if (ec == http::error::need_more || (used == 0 && !wrote)) break;
    }
    attempt_->parser->eager(false);
    read_body_chunk();  // after [DONE] too: the connection is reusable only once the message has ended
  }

  void on_body_complete() {
    bool keep = attempt_->parser->get().keep_alive();
    if (attempt_->status != 200) {
      finish_with(upstream_status_error(name(), attempt_->status, attempt_->whole_body, attempt_->retry_after_s));
    } else if (attempt_->streaming) {
      std::vector<ChatEvent> events;
      attempt_->decoder->on_stream_end(events);  // a clean end without [DONE] is still a failure
      deliver(std::move(events));
    } else {
      std::vector<ChatEvent> events;
      attempt_->decoder->on_body(attempt_->whole_body, events);
      deliver(std::move(events));
    }
    if (keep && stream_ && attempt_->status < 500) provider_->pool().put_back(std::move(*stream_));
    stream_.reset();
  }

  void on_sse_event(SseEvent&& event) {
    std::vector<ChatEvent> events;
    attempt_->decoder->on_stream_data(event.data, events);
    deliver(std::move(events));
  }

  // Every event the call produces goes out here, through the redactor: the upstream's words never carry
  // its own key to the client.
  void deliver(std::vector<ChatEvent> events) {
    attempt_->redactor.redact(events);
    for (ChatEvent& event : events) deliver_one(std::move(event));
  }

  void deliver_single(ChatEvent event) {
    std::vector<ChatEvent> events;
    events.push_back(std::move(event));
    deliver(std::move(events));
  }

  void deliver_one(ChatEvent event) {
    if (finished_) return;
    finished_ = is_terminal(event);
    sink_(std::move(event));
  }

  void finish_with(Error error) {
    if (!finished_) deliver_single(StreamFailed{std::move(error)});
  }

  std::shared_ptr<OpenAiHttpProvider> provider_;
  std::shared_ptr<const ChatRequest> request_;
  RequestContext context_;
  EventSink sink_;
  net::any_io_executor io_executor_;  // the caller's, so the connection lives on the caller's thread
  net::any_io_executor strand_;       // serialises the call: the caller's own strand, or one of its own
  tcp::resolver resolver_;
  Deadline deadline_;  // of the operation in flight
  bool timed_out_ = false;
  std::optional<UpstreamStream> stream_;
  bool reused_ = false;
  bool cancelled_ = false;
  bool finished_ = false;
  std::string wire_request_;  // head and body, as sent
  std::optional<UpstreamAttempt> attempt_;  // of the connection in use: a retry starts a fresh one
  char chunk_[16 * 1024];  // where the parser puts body bytes; refilled on every read, so no attempt's state
};

}  // namespace

Result<std::shared_ptr<OpenAiHttpProvider>> OpenAiHttpProvider::create(boost::asio::any_io_executor executor, UpstreamOptions options) {
  Result<BaseUrl> url = parse_base_url(options.base_url);
  if (!url) return url.error();
  std::unique_ptr<boost::asio::ssl::context> tls;
  if (url->scheme == "https") {
    tls = std::make_unique<boost::asio::ssl::context>(boost::asio::ssl::context::tls_client);
    boost::system::error_code ec;
    tls->set_verify_mode(boost::asio::ssl::verify_peer);
    if (options.ca_file.empty()) tls->set_default_verify_paths(ec);
    else tls->load_verify_file(options.ca_file, ec);
    if (ec) {
      return Error::invalid_request("provider '" + options.name + "': cannot load trusted certificates" +
                                        (options.ca_file.empty() ? std::string() : " from '" + options.ca_file + "'") + ": " + ec.message(),
                                    "ca_file");
    }
  }
  return std::shared_ptr<OpenAiHttpProvider>(
      new OpenAiHttpProvider(std::move(executor), std::move(options), std::move(url).value(), std::move(tls)));
}

namespace {

// The request in the upstream's wire API; an error when that API cannot express it.
Result<nlohmann::json> wire_json(const ChatRequest& request, WireApi wire) {
  if (wire == WireApi::anthropic_messages) return to_anthropic_json(request);
  return request.flavor == ApiFlavor::embedding ? to_openai_embedding_json(request) : to_openai_json(request);
}

}  // namespace

Result<std::string> OpenAiHttpProvider::request_body(const ChatRequest& request, const std::string& model_id) const {
  const Dialect& dialect = options_.dialect;
  Result<nlohmann::json> wire_body = wire_json(request, dialect.wire);
  if (!wire_body) return wire_body.error();
  nlohmann::json body = std::move(wire_body).value();
  body["model"] = model_id;
  if (!request.continuation_prefix.empty()) dialect.ask_to_continue(body, request.continuation_prefix);
  // Bill from the upstream's own count.
  if (request.stream && dialect.asks_for_stream_usage) body["stream_options"]["include_usage"] = true;
  dialect.adapt(body);
  std::string text;
  text.reserve(256);
  append_json(text, body);
  return text;
}

void OpenAiHttpProvider::chat_stream(std::shared_ptr<const ChatRequest> request, const std::string& model_id, const RequestContext& context,
                                     EventSink sink) {
  Result<std::string> body = request_body(*request, model_id);
  if (!body) {
    Error refused = body.error();
    refused.message = name() + ": " + refused.message;
    return sink(StreamFailed{std::move(refused)});
  }
  std::make_shared<UpstreamCall>(shared_from_this(), std::move(request), std::move(body).value(), context, std::move(sink))->start();
}

Error upstream_status_error(const std::string& provider, unsigned status, const std::string& body, int retry_after_s) {
  std::string detail;
  Result<nlohmann::json> document = parse_json_document(body);
  if (document && document->is_object() && document->contains("error")) {
    const nlohmann::json& error = (*document)["error"];
    if (error.is_object() && error.contains("message") && error["message"].is_string()) detail = error["message"].get<std::string>();
    else if (error.is_string()) detail = error.get<std::string>();
  }
  if (detail.empty()) detail = body.substr(0, 200);
  FailureClass failure = status == 429 ? FailureClass::rate_limit
                       : status == 408 ? FailureClass::timeout
                       : status >= 500 ? FailureClass::transient
                       : status == 401 || status == 403 ? FailureClass::auth
                       : status == 400 || status == 413 || status == 422 ? FailureClass::caller_fault
                       : FailureClass::permanent;
  int client_status = failure == FailureClass::caller_fault ? static_cast<int>(status) : 502;
  Error error{client_status, failure, failure == FailureClass::caller_fault ? "invalid_request_error" : "upstream_error",
              "upstream_http_" + std::to_string(status), {}, provider + ": HTTP " + std::to_string(status) + ": " + detail, retry_after_s};
  return error;
}

}  // namespace mg
