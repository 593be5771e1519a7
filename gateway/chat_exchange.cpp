#include "gateway/chat_exchange.h"

#include <chrono>
#include <random>

#include <boost/asio/post.hpp>

namespace mg::gateway {
namespace {

std::string random_hex(std::size_t length) {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(length, '0');
  for (char& c : out) c = kDigits[engine() & 15];
  return out;
}

std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

ChatExchange::ChatExchange(std::shared_ptr<const ChatRequest> request, RoutedRequest routed,
                           std::shared_ptr<ResponseChannel> channel, const ServerConfig& config, GatewayState& state,
                           std::string request_id)
    : request_(std::move(request)), routed_(std::move(routed)), channel_(std::move(channel)), config_(config), state_(state),
      keepalive_timer_(channel_->executor()), deadline_timer_(channel_->executor()) {
  context_.request_id = std::move(request_id);
  context_.deadline = std::chrono::steady_clock::now() + config_.request_timeout;
  context_.cancellation = channel_->cancellation();
  identity_.flavor = request_->flavor;
  identity_.id = (request_->flavor == ApiFlavor::chat ? "chatcmpl-" : "cmpl-") + random_hex(24);
  identity_.created = unix_seconds();
  identity_.include_usage_in_stream = request_->include_usage;
  writer_ = request_->stream ? make_sse_writer(channel_, identity_) : make_json_writer(channel_, identity_);
  state_.active_generations.fetch_add(1, std::memory_order_relaxed);
}

ChatExchange::~ChatExchange() { state_.active_generations.fetch_sub(1, std::memory_order_relaxed); }

void ChatExchange::start() {
  if (request_->stream) arm_keepalive();
  arm_deadline();
  try_route(0);
}

// Every request has a deadline: a provider that never finishes must not hold a client, or a shutdown.
void ChatExchange::arm_deadline() {
  deadline_timer_.expires_at(context_.deadline);
  deadline_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->writer_->finished()) return;
    self->timed_out_ = true;
    self->context_.cancellation.cancel();  // the provider stops and reports StreamFailed(cancelled)
  });
}

void ChatExchange::try_route(std::size_t index) {
  current_ = index;
  identity_.route = &chain_[index];
  writer_->begin_attempt();
  auto self = shared_from_this();
  auto executor = channel_->executor();
  try {
    chain_[index].provider->chat_stream(request_, chain_[index].entry->upstream_model_id, context_,
                                        [self, executor, index](ChatEvent event) {
                                          boost::asio::post(executor, [self, index, event = std::move(event)]() mutable {
                                            self->on_event(index, std::move(event));
                                          });
                                        });
  } catch (const std::exception& e) {  // a provider bug must end this attempt, not escape into Asio
    on_attempt_failed(Error{500, FailureClass::transient, "server_error", "provider_error", {}, std::string("provider failed: ") + e.what(), 0});
  }
}

void ChatExchange::on_event(std::size_t attempt, ChatEvent event) {
  if (attempt != current_ || writer_->finished()) return;  // a stale attempt, or the answer is complete
  if (auto failed = std::get_if<StreamFailed>(&event)) return on_attempt_failed(failed->error);
  if (!first_event_seen_) {
    first_event_seen_ = true;
    keepalive_timer_.cancel();
  }
  writer_->write(event);
  if (writer_->finished()) deadline_timer_.cancel();
}

void ChatExchange::on_attempt_failed(const Error& error) {
  attempts_.push_back(AttemptRecord{chain_[current_].name(), error});
  if (error.failure == FailureClass::cancelled) return fail_cancelled(error);
  bool can_fall_back = !writer_->committed() && error.failure != FailureClass::caller_fault;
  if (can_fall_back && current_ + 1 < chain_.size()) return try_route(current_ + 1);
  keepalive_timer_.cancel();
  deadline_timer_.cancel();
  if (!can_fall_back) return writer_->fail(error);
  fail_all_routes();
}

// Cancelled by the request deadline, by a shutdown that ran out of grace, or by the client leaving.
void ChatExchange::fail_cancelled(const Error& error) {
  keepalive_timer_.cancel();
  deadline_timer_.cancel();
  if (timed_out_) {
    auto limit_ms = std::chrono::duration_cast<std::chrono::milliseconds>(config_.request_timeout).count();
    return writer_->fail(Error{504, FailureClass::timeout, "timeout", "request_timeout",
                               {}, "the answer did not complete within " + std::to_string(limit_ms) + " ms", 0});
  }
  if (state_.draining.load()) {
    Error error_for_shutdown = Error::unavailable("the gateway is shutting down; retry", config_.no_route_retry_after_s);
    error_for_shutdown.code = "shutting_down";
    return writer_->fail(error_for_shutdown);
  }
  state_.cancelled_total.fetch_add(1, std::memory_order_relaxed);
  writer_->fail(error);
}

void ChatExchange::fail_all_routes() {
  std::string message = "every route failed:";
  for (const AttemptRecord& attempt : attempts_) {
    message += " " + attempt.route + " (" + to_string(attempt.error.failure) + ": " + attempt.error.message + ");";
  }
  message.pop_back();
  writer_->fail(Error::unavailable(std::move(message), config_.no_route_retry_after_s));
}

void ChatExchange::arm_keepalive() {
  keepalive_timer_.expires_after(config_.stream_keepalive_interval);
  keepalive_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->first_event_seen_ || self->writer_->finished()) return;
    self->writer_->keepalive();
    self->arm_keepalive();
  });
}

}  // namespace mg::gateway
