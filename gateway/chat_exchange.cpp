#include "gateway/chat_exchange.h"

#include <chrono>
#include <random>

#include <boost/asio/dispatch.hpp>

namespace mg::gateway {
namespace {

using Clock = std::chrono::steady_clock;

const char* answer_id_prefix(ClientApi api) {
  switch (api) {
    case ClientApi::openai_completions: return "cmpl-";
    case ClientApi::anthropic_messages: return "msg_";
    case ClientApi::openai_responses: return "resp_";
    case ClientApi::openai_embeddings: return "emb-";  // never shown: an embeddings answer carries no id
    case ClientApi::openai_chat: break;
  }
  return "chatcmpl-";
}

bool is_content(const ChatEvent& event) {
  return std::holds_alternative<TextDelta>(event) || std::holds_alternative<ToolCallDelta>(event);
}

}  // namespace

ChatExchange::ChatExchange(std::shared_ptr<const ChatRequest> request, RoutedRequest routed, std::shared_ptr<ResponseChannel> channel,
                           ExchangeServices services, ExchangeOrigin origin)
    : request_(std::move(request)), routed_(std::move(routed)), channel_(std::move(channel)), services_(services),
      config_(services.config), keepalive_(channel_->executor(), config_.stream_keepalive_interval),
      request_deadline_(channel_->executor(), config_.request_timeout), retry_timer_(channel_->executor()), arrival_(origin.received),
      arrival_unix_ms_(unix_now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - origin.received).count()),
      grant_(std::move(origin.grant)), resume_enabled_(request_->stream && (request_->resume_stream || config_.retry.resume_streams)) {
  context_.request_id = std::move(origin.request_id);
  context_.cancellation = channel_->cancellation();
  context_.executor = channel_->executor();
  context_.deadline = arrival_ + config_.request_timeout;
  identity_.api = origin.api;
  identity_.flavor = request_->flavor;
  identity_.id = answer_id_prefix(origin.api) + random_hex(24);
  identity_.created = arrival_unix_ms_ / 1000;
  identity_.include_usage_in_stream = request_->include_usage;
  identity_.estimated_prompt_tokens = request_->estimated_prompt_tokens();
  identity_.embedding_encoding = request_->embedding_encoding.value_or(EmbeddingEncoding::float_array);
  writer_ = request_->stream ? make_sse_writer(channel_, identity_) : make_json_writer(channel_, identity_);
  services_.state.active_generations.fetch_add(1, std::memory_order_relaxed);
}

ChatExchange::~ChatExchange() {
  if (!concluded_) {  // every path concludes; this keeps "one ledger row per request" true even for a bug
    Error abandoned{500, FailureClass::permanent, "server_error", "abandoned", {}, "the exchange ended without an answer", 0};
    conclude(&abandoned, false);
  }
  services_.state.active_generations.fetch_sub(1, std::memory_order_relaxed);
}

void ChatExchange::start() {
  keepalive_.bind(weak_from_this(), [this] {
    if (concluded_ || attempts_.back().first_event) return;
    writer_->keepalive();
    arm_keepalive();
  });
  // Every request has a deadline: a provider that never finishes must not hold a client, or a shutdown.
  request_deadline_.bind(weak_from_this(), [this] {
    if (concluded_) return;
    timed_out_ = true;
    context_.cancellation.cancel();  // the provider stops and reports StreamFailed(cancelled)
  });
  if (request_->stream) arm_keepalive();
  arm_deadline();
  try_next_route(0);
}

// The first route from `index` on whose circuit lets a call through (one may have opened since routing).
void ChatExchange::try_next_route(std::size_t index) {
  if (auto next = next_open_route(index)) return try_route(*next);
  fail_all_routes();
}

// Asks each circuit from `index` on, once: allow() hands out a half-open route's one probe, so whoever
// asks must then call it.
std::optional<std::size_t> ChatExchange::next_open_route(std::size_t index) {
  for (; index < chain_.size(); ++index) {
    if (services_.circuits.allow(chain_[index].name())) {
      retries_on_route_ = 0;
      return index;
    }
  }
  return std::nullopt;
}

void ChatExchange::try_route(std::size_t index) {
  current_ = index;
  identity_.route = &chain_[index];
  attempts_.push_back(AttemptRecord{chain_[index].name(), Clock::now(), std::nullopt, std::nullopt, std::nullopt});
  writer_->begin_attempt();
  try {
    chain_[index].provider->chat_stream(request_, chain_[index].entry->upstream_model_id, context_, inbox_sink(index));
  } catch (const std::exception& e) {  // a provider bug must end this attempt, not escape into Asio
    on_attempt_failed(Error{500, FailureClass::transient, "server_error", "provider_error", {}, std::string("provider failed: ") + e.what(), 0});
  }
}

// Events come from the provider's thread, or (an upstream call) from the session's own strand: then
// they are taken at once, without the inbox. Otherwise they wait in the inbox, and one post takes
// everything that came meanwhile to the strand. An attempt's events all come the one way or the other,
// so each attempt's stay in order.
EventSink ChatExchange::inbox_sink(std::size_t attempt) {
  return [self = shared_from_this(), attempt](ChatEvent event) {
    if (running_in_this_thread(self->channel_->executor())) return self->on_event(attempt, std::move(event));
    {
      std::lock_guard lock(self->inbox_mutex_);
      bool was_empty = self->inbox_.empty();
      self->inbox_.emplace_back(attempt, std::move(event));
      if (!was_empty) return;  // a take is already on its way
    }
    boost::asio::dispatch(self->channel_->executor(), [self] { self->take_inbox(); });
  };
}

void ChatExchange::take_inbox() {
  std::vector<std::pair<std::size_t, ChatEvent>> events;
  {
    std::lock_guard lock(inbox_mutex_);
    events.swap(inbox_);
  }
  for (auto& [attempt, event] : events) on_event(attempt, std::move(event));
}

void ChatExchange::on_event(std::size_t attempt, ChatEvent event) {
  if (attempt != current_ || writer_->finished()) return;  // a stale attempt, or the answer is complete
  if (auto failed = std::get_if<StreamFailed>(&event)) return on_attempt_failed(failed->error);
  if (std::holds_alternative<UpstreamComment>(event)) return writer_->write(event);  // says nothing of the answer
  AttemptRecord& record = attempts_.back();
  if (!record.first_event) {
    record.first_event = Clock::now();
    keepalive_.clear();
  }
  if (is_content(event)) note_content(event);
  if (std::holds_alternative<ChoiceFinished>(event)) answer_finished_ = true;
  if (auto usage = std::get_if<UsageReport>(&event)) record.usage = *usage;
  if (std::holds_alternative<StreamDone>(event)) {
    // Account before the last bytes leave: whoever sees the answer complete can rely on its ledger row.
    if (!first_byte_to_client_) first_byte_to_client_ = Clock::now();
    end_attempt(std::nullopt);
    conclude(nullptr, false);
  }
  writer_->write(event);
}

void ChatExchange::note_content(const ChatEvent& event) {
  if (!first_byte_to_client_ && request_->stream) first_byte_to_client_ = Clock::now();
  AttemptRecord& record = attempts_.back();
  if (record.content_events++ == 0) last_streaming_route_ = record.route;
  if (!resume_enabled_) return;
  if (auto text = std::get_if<TextDelta>(&event); text && text->choice == 0) streamed_text_ += text->text;
  if (std::holds_alternative<ToolCallDelta>(event)) streamed_tool_calls_ = true;
}

void ChatExchange::end_attempt(std::optional<Error> error) {
  AttemptRecord& record = attempts_.back();
  record.error = std::move(error);
  services_.live_stats.record(record.route, sample_for(record, Clock::now()));
  services_.circuits.record(record.route, record.error);
}

void ChatExchange::on_attempt_failed(const Error& error) {
  end_attempt(error);
  if (error.failure == FailureClass::cancelled) return fail_cancelled(error);
  if (writer_->committed()) return can_resume(error) ? resume(error) : fail(error);
  if (error.failure == FailureClass::caller_fault) return fail(error);
  if (static_cast<int>(attempts_.size()) >= config_.retry.max_attempts) return fail_all_routes();
  if (auto delay = retry_delay(error)) return retry_after(*delay);
  try_next_route(current_ + 1);
}

// A broken stream can continue elsewhere when it is unfinished plain text (a tool call cut in half
// cannot be continued; a finished answer needs nothing more), of one choice, with attempts left.
bool ChatExchange::can_resume(const Error& error) const {
  if (!resume_enabled_ || streamed_tool_calls_ || answer_finished_ || request_->n != 1) return false;
  return error.failure != FailureClass::caller_fault && static_cast<int>(attempts_.size()) < config_.retry.max_attempts;
}

// The next route continues the answer from the text the client already has, within what is left of
// max_tokens; what the broken route streamed is billed with the rest. No route left: the in-band error.
void ChatExchange::resume(const Error& error) {
  auto next = next_open_route(current_ + 1);
  if (!next) return fail(error);
  const AttemptRecord& broken = attempts_.back();
  UsageReport partial = billed_usage(broken, request_->estimated_prompt_tokens());
  identity_.carried_usage = identity_.carried_usage + partial;
  identity_.carried_cost_usd += chain_[current_].cost_usd(partial);
  auto resumed = std::make_shared<ChatRequest>(*request_);
  resumed->continuation_prefix = streamed_text_;
  if (resumed->max_tokens) resumed->max_tokens = std::max(1, *resumed->max_tokens - broken.content_events);
  request_ = std::move(resumed);
  arm_keepalive();  // the client hears from us while the next route starts
  try_route(*next);
}

// How long to wait before trying the same route again, or nullopt to move on: only transient
// failures, timeouts and rate limits are retried, within the per-route budget and the deadline.
std::optional<std::chrono::milliseconds> ChatExchange::retry_delay(const Error& error) const {
  const RetryPolicy& policy = config_.retry;
  bool retryable = error.failure == FailureClass::transient || error.failure == FailureClass::timeout ||
                   error.failure == FailureClass::rate_limit;
  if (!retryable || retries_on_route_ >= policy.retries_per_route) return std::nullopt;
  std::chrono::milliseconds delay;
  if (error.retry_after_s > 0) {
    delay = std::chrono::seconds(error.retry_after_s);
    if (delay > policy.max_retry_after) return std::nullopt;  // better served elsewhere
  } else {
    auto backoff = std::min(policy.backoff_max, policy.backoff_initial * (1 << std::min(retries_on_route_, 20)));
    thread_local std::mt19937_64 random{std::random_device{}()};
    delay = std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(backoff.count() / 2, backoff.count())(random));
  }
  if (Clock::now() + delay >= context_.deadline) return std::nullopt;
  return delay;
}

void ChatExchange::retry_after(std::chrono::milliseconds delay) {
  retry_timer_.expires_after(delay);
  retry_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->concluded_) return;
    // The failure may just have opened the route's circuit (a failed half-open probe): move on then.
    if (!self->services_.circuits.allow(self->chain_[self->current_].name())) return self->try_next_route(self->current_ + 1);
    ++self->retries_on_route_;
    self->try_route(self->current_);
  });
}

// Cancelled by the request deadline, by a shutdown that ran out of grace, or by the client leaving.
void ChatExchange::fail_cancelled(const Error& error) {
  if (timed_out_) {
    auto limit_ms = std::chrono::duration_cast<std::chrono::milliseconds>(config_.request_timeout).count();
    return fail(Error{504, FailureClass::timeout, "timeout", "request_timeout", {},
                      "the answer did not complete within " + std::to_string(limit_ms) + " ms", 0});
  }
  if (services_.state.draining.load()) {
    Error shutting_down = Error::unavailable("the gateway is shutting down; retry", config_.no_route_retry_after_s);
    shutting_down.code = "shutting_down";
    return fail(shutting_down);
  }
  services_.state.cancelled_total.fetch_add(1, std::memory_order_relaxed);
  fail(error);
}

void ChatExchange::fail_all_routes() {
  std::string message = "every route failed:";
  for (const AttemptRecord& attempt : attempts_) {
    message += " " + attempt.route + " (" + to_string(attempt.error->failure) + ": " + attempt.error->message + ");";
  }
  message.pop_back();
  int retry_after_s = config_.no_route_retry_after_s;  // or longer, if an upstream asked for more
  for (const AttemptRecord& attempt : attempts_) retry_after_s = std::max(retry_after_s, attempt.error->retry_after_s);
  fail(Error::unavailable(std::move(message), retry_after_s));
}

void ChatExchange::fail(const Error& error) {
  conclude(&error, writer_->committed());  // accounted before the client can see the end
  writer_->fail(error);
}

// The request is over: stop the timers and write its one ledger row. `partly_answered`: a failed
// request had already streamed part of its answer from the last route.
void ChatExchange::conclude(const Error* error, bool partly_answered) {
  if (concluded_) return;
  concluded_ = true;
  keepalive_.clear();
  request_deadline_.clear();
  retry_timer_.cancel();
  ExchangeOutcome outcome;
  outcome.request = request_.get();
  outcome.request_id = context_.request_id;
  outcome.arrival_unix_ms = arrival_unix_ms_;
  outcome.arrival = arrival_;
  outcome.finished = Clock::now();
  outcome.first_byte_to_client = first_byte_to_client_;
  outcome.attempts = &attempts_;
  bool answered = !attempts_.empty() && (!error || partly_answered);
  if (answered) {
    // Earlier routes of a resumed stream are carried; the last attempt adds its own part, if any.
    const AttemptRecord& final_attempt = attempts_.back();
    UsageReport last = billed_usage(final_attempt, request_->estimated_prompt_tokens());
    bool final_attempt_answered = !final_attempt.error || final_attempt.content_events > 0;
    outcome.answering_route = final_attempt_answered || last_streaming_route_.empty() ? final_attempt.route : last_streaming_route_;
    outcome.usage = identity_.carried_usage + last;
    outcome.cost_usd = identity_.carried_cost_usd + chain_[current_].cost_usd(last);
  }
  if (error) {
    bool client_left = error->failure == FailureClass::cancelled && !timed_out_ && !services_.state.draining.load();
    outcome.status = client_left ? 499 : channel_->stream_started() ? 200 : error->http_status;
    outcome.error_code = ledger_error_code(*error);
  }
  pricing::LedgerRecord row = ledger_record_for(outcome);
  row.api_key_id = grant_.key_id();
  grant_.settle(row.cost_usd, row.prompt_tokens + row.completion_tokens, unix_now_ms());
  services_.observers.conclude(std::move(row), request_facts(attempts_, arrival_));
}

void ChatExchange::arm_keepalive() { keepalive_.expire_after(config_.stream_keepalive_interval); }

void ChatExchange::arm_deadline() { request_deadline_.expire_after(context_.deadline - Clock::now()); }

}  // namespace mg::gateway
