// The writers' shells, one per way of answering (SSE events, one JSON body), whatever the client's API:
// they own the channel (when the response starts, when a failure can still hand over to another route)
// and leave the bytes to the API's AnswerFormat.
#include "gateway/anthropic_answer.h"
#include "gateway/completion_writers.h"
#include "gateway/embeddings_answer.h"
#include "gateway/responses_answer.h"

namespace mg::gateway {
namespace {

HttpReply error_reply_with_route(const Error& error, const ResponseIdentity& identity) {
  HttpReply reply = error_reply_for(identity.api, error);
  for (auto& header : route_headers(identity)) reply.headers.push_back(std::move(header));
  return reply;
}

class SseWriter final : public CompletionWriter {
 public:
  SseWriter(std::shared_ptr<ResponseChannel> channel, const ResponseIdentity& identity)
      : channel_(std::move(channel)), identity_(identity), format_(make_answer_format(identity)) {}

  void begin_attempt() override {}

  void write(const ChatEvent& event) override {
    if (std::holds_alternative<StreamFailed>(event)) return fail(std::get<StreamFailed>(event).error);
    if (std::holds_alternative<StreamDone>(event)) return finish(format_->stream_end());
    if (auto comment = std::get_if<UpstreamComment>(&event)) return send(":" + comment->text + "\n\n");
    if (std::string bytes = format_->stream_event(event); !bytes.empty()) {
      data_sent_ = true;
      send(std::move(bytes));
    }
  }

  void keepalive() override { send(": keep-alive\n\n"); }

  void fail(const Error& error) override {
    if (finished_) return;
    if (!channel_->stream_started()) {
      finished_ = true;
      return channel_->send_reply(error_reply_with_route(error, identity_));
    }
    finish(format_->stream_failure(error));
  }

  // Keep-alive comments have started the response but promised nothing: until a data chunk is out, a
  // failed route can still hand over to the next one on the same stream.
  bool committed() const override { return data_sent_; }
  bool finished() const override { return finished_; }

 private:
  void send(std::string bytes) {
    if (finished_) return;
    if (channel_->stream_started()) return channel_->write_stream(std::move(bytes));
    HttpReply head;
    head.content_type = "text/event-stream";
    head.headers = route_headers(identity_);
    head.headers.emplace_back("Cache-Control", "no-cache");
    head.headers.emplace_back("X-Accel-Buffering", "no");
    head.body = std::move(bytes);
    channel_->start_stream(std::move(head));
  }

  void finish(std::string last_bytes) {
    send(std::move(last_bytes));
    finished_ = true;
    channel_->end_stream();
  }

  std::shared_ptr<ResponseChannel> channel_;
  const ResponseIdentity& identity_;
  std::unique_ptr<AnswerFormat> format_;
  bool data_sent_ = false;
  bool finished_ = false;
};

class JsonWriter final : public CompletionWriter {
 public:
  JsonWriter(std::shared_ptr<ResponseChannel> channel, const ResponseIdentity& identity)
      : channel_(std::move(channel)), identity_(identity) {}

  void begin_attempt() override { accumulator_ = CompletionAccumulator{}; }

  void write(const ChatEvent& event) override {
    if (finished_) return;
    accumulator_.add(event);
    if (accumulator_.failure()) return fail(*accumulator_.failure());
    if (!accumulator_.done()) return;
    Result<std::string> body = make_answer_format(identity_)->whole(accumulator_.completion());
    if (!body) return fail(body.error());
    finished_ = true;
    HttpReply reply;
    reply.body = std::move(body).value();
    reply.headers = route_headers(identity_);
    channel_->send_reply(std::move(reply));
  }

  void keepalive() override {}  // nothing can be sent before the whole body

  void fail(const Error& error) override {
    if (finished_) return;
    finished_ = true;
    channel_->send_reply(error_reply_with_route(error, identity_));
  }

  bool committed() const override { return finished_; }
  bool finished() const override { return finished_; }

 private:
  std::shared_ptr<ResponseChannel> channel_;
  const ResponseIdentity& identity_;
  CompletionAccumulator accumulator_;
  bool finished_ = false;
};

}  // namespace

std::unique_ptr<AnswerFormat> make_answer_format(const ResponseIdentity& identity) {
  switch (identity.api) {
    case ClientApi::anthropic_messages: return make_anthropic_format(identity);
    case ClientApi::openai_responses: return make_responses_format(identity);
    case ClientApi::openai_embeddings: return make_embeddings_format(identity);
    case ClientApi::openai_chat:
    case ClientApi::openai_completions: break;
  }
  return make_openai_format(identity);
}

HttpReply error_reply_for(ClientApi api, const Error& error) {
  return api == ClientApi::anthropic_messages ? anthropic_error_reply(error) : error_reply(error);
}

std::unique_ptr<CompletionWriter> make_sse_writer(std::shared_ptr<ResponseChannel> channel, const ResponseIdentity& identity) {
  return std::make_unique<SseWriter>(std::move(channel), identity);
}

std::unique_ptr<CompletionWriter> make_json_writer(std::shared_ptr<ResponseChannel> channel, const ResponseIdentity& identity) {
  return std::make_unique<JsonWriter>(std::move(channel), identity);
}

}  // namespace mg::gateway
