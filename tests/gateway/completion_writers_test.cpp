#include "gateway/completion_writers.h"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "providers/fake_provider.h"

namespace mg::gateway {
namespace {

using nlohmann::json;

// Records what a writer sends, as the session would put it on the wire.
class RecordingChannel final : public ResponseChannel {
 public:
  void send_reply(HttpReply reply) override { replies.push_back(std::move(reply)); }
  void start_stream(HttpReply head) override {
    body += head.body;
    stream_head = std::move(head);
    started = true;
  }
  void write_stream(std::string bytes) override { body += bytes; }
  void end_stream() override { ended = true; }
  bool stream_started() const override { return started; }
  const CancellationToken& cancellation() const override { return token; }
  boost::asio::any_io_executor executor() const override { return io.get_executor(); }

  std::vector<HttpReply> replies;
  std::optional<HttpReply> stream_head;
  std::string body;
  bool started = false;
  bool ended = false;
  CancellationToken token;
  mutable boost::asio::io_context io;
};

class CompletionWritersTest : public ::testing::Test {
 protected:
  CompletionWritersTest() {
    entry_.model_id = "echo";
    entry_.provider = "fake";
    entry_.name = "fake/echo";
    entry_.usd_per_mtok_input = 3;
    entry_.usd_per_mtok_output = 5;
    identity_.id = "chatcmpl-test";
    identity_.created = 1700000000;
    identity_.route = &route_;
  }

  std::vector<json> data_chunks() const {
    std::vector<json> out;
    std::size_t at = 0;
    while ((at = channel_->body.find("data: ", at)) != std::string::npos) {
      std::size_t end = channel_->body.find("\n\n", at);
      std::string payload = channel_->body.substr(at + 6, end - at - 6);
      out.push_back(payload == "[DONE]" ? json("[DONE]") : json::parse(payload));
      at = end;
    }
    return out;
  }

  boost::asio::io_context io_;
  pricing::RouteEntry entry_;
  RouteTarget route_{&entry_, std::make_shared<FakeProvider>(io_.get_executor(), FakeProviderOptions{})};
  ResponseIdentity identity_;
  std::shared_ptr<RecordingChannel> channel_ = std::make_shared<RecordingChannel>();
};

// The direct path for text chunks must write exactly what the DOM path (nlohmann, the oracle) writes,
// and hand text that is not valid UTF-8 to the DOM path, which repairs it.
TEST_F(CompletionWritersTest, DirectTextChunksAreTheBytesTheDomWrites) {
  std::vector<std::string> texts = {"", "plain", "quote \" and \\ backslash", std::string("\0\x01\x1f\x7f", 4), "\b\f\n\r\t",
                                    "日本語", "emoji 😀", "e\xcc\x81 combining", "bad \xff byte", "\xc0\xaf overlong",
                                    "\xed\xa0\x80 surrogate", "cut \xe6\x97", "\xf4\x90\x80\x80 too high", "</script>"};
  for (int c = 0; c < 0x80; ++c) texts.push_back(std::string(1, static_cast<char>(c)));
  for (int choice : {0, 2}) {
    ChunkFormatter direct(identity_);
    ChunkFormatter dom(identity_);
    for (const std::string& text : texts) {
      TextDelta delta{choice, text};
      EXPECT_EQ(direct.sse_chunk(delta), "data: " + to_json_text(*dom.chunk(delta)) + "\n\n") << "text: " << json(text).dump(-1, ' ', true, json::error_handler_t::replace);
    }
  }
  entry_.provider = "another";  // a new route's envelope is not a stale one
  RouteTarget other{&entry_, route_.provider};
  identity_.route = &other;
  ChunkFormatter direct(identity_);
  EXPECT_NE(direct.sse_chunk(TextDelta{0, "x"}).find("\"provider\":\"another\""), std::string::npos);
}

// Finish and usage chunks, the rest of every chat stream, likewise: the same bytes as the DOM, role and
// carried usage included, and the DOM's repair for names that are not valid UTF-8.
TEST_F(CompletionWritersTest, DirectFinishAndUsageChunksAreTheBytesTheDomWrites) {
  auto same_bytes = [&](const std::vector<ChatEvent>& events) {
    ChunkFormatter direct(identity_);
    ChunkFormatter dom(identity_);
    for (const ChatEvent& event : events) {
      auto expected = dom.chunk(event);
      ASSERT_TRUE(expected);
      EXPECT_EQ(direct.sse_chunk(event), "data: " + to_json_text(*expected) + "\n\n") << expected->dump();
    }
  };
  std::vector<ChatEvent> events;
  for (FinishReason reason : {FinishReason::stop, FinishReason::length, FinishReason::tool_calls, FinishReason::content_filter}) {
    for (std::string native : {"", "stop", "end_turn", "bad \xff native", "quote \" \\"}) {
      events.push_back(ChoiceFinished{static_cast<int>(events.size() % 3), reason, native});  // the first of each choice takes the role
    }
  }
  events.push_back(TextDelta{4, "after"});
  events.push_back(ChoiceFinished{4, FinishReason::stop, "stop"});
  for (std::int64_t tokens : {std::int64_t{0}, std::int64_t{1}, std::int64_t{12345678901}}) events.push_back(UsageReport{tokens, tokens * 3, tokens / 2});
  same_bytes(events);

  identity_.carried_usage = UsageReport{7, 9, 2};  // an earlier attempt's, billed too
  identity_.carried_cost_usd = 0.000123;
  same_bytes({UsageReport{11, 4, 0}, ChoiceFinished{0, FinishReason::stop, "stop"}});

  entry_.provider = "bad \xfe provider";
  same_bytes({TextDelta{0, "x"}, ChoiceFinished{0, FinishReason::stop, "stop"}, UsageReport{1, 2, 0}});
}

// A whole chat completion, written directly where it can be, is the DOM's bytes too.
TEST_F(CompletionWritersTest, DirectCompletionsAreTheBytesTheDomWrites) {
  auto same_bytes = [&](const Completion& completion) {
    ChunkFormatter formatter(identity_);
    EXPECT_EQ(formatter.completion_text(completion), to_json_text(formatter.completion(completion)));
  };
  ChoiceResult plain{"Hello \"there\" \\ 日本語 😀\n", {}, FinishReason::stop, "stop"};
  ChoiceResult empty{"", {}, std::nullopt, ""};
  ChoiceResult cut{"cut", {}, FinishReason::length, "max_tokens"};
  ChoiceResult broken{"bad \xff text", {}, FinishReason::stop, "stop"};
  ChoiceResult tools{"", {ToolCall{"call_1", "function", "lookup", "{\"q\":1}"}}, FinishReason::tool_calls, "tool_calls"};
  same_bytes(Completion{{plain}, UsageReport{12, 5, 3}});
  same_bytes(Completion{{plain, empty, cut}, std::nullopt});
  same_bytes(Completion{{}, UsageReport{1, 0, 0}});
  same_bytes(Completion{{broken}, UsageReport{1, 1, 0}});
  same_bytes(Completion{{plain, tools}, UsageReport{1, 1, 0}});
  identity_.carried_usage = UsageReport{7, 9, 2};
  identity_.carried_cost_usd = 0.25;
  same_bytes(Completion{{plain}, UsageReport{100, 200, 50}});
  entry_.model_id = "bad \xfe model";
  same_bytes(Completion{{plain}, UsageReport{1, 1, 0}});
}

TEST_F(CompletionWritersTest, SseFramesEveryEventAndEndsWithDone) {
  identity_.include_usage_in_stream = true;
  auto writer = make_sse_writer(channel_, identity_);
  writer->write(TextDelta{0, "Hi"});
  writer->write(TextDelta{0, " there"});
  writer->write(ChoiceFinished{0, FinishReason::stop, "eos"});
  writer->write(UsageReport{10, 2, 0});
  writer->write(StreamDone{});
  ASSERT_TRUE(channel_->stream_head);
  EXPECT_EQ(channel_->stream_head->content_type, "text/event-stream");
  EXPECT_TRUE(channel_->ended);
  auto chunks = data_chunks();
  ASSERT_EQ(chunks.size(), 5u);
  EXPECT_EQ(chunks[0]["choices"][0]["delta"], json({{"role", "assistant"}, {"content", "Hi"}}));
  EXPECT_EQ(chunks[1]["choices"][0]["delta"], json({{"content", " there"}}));
  EXPECT_EQ(chunks[2]["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(chunks[2]["choices"][0]["native_finish_reason"], "eos");
  EXPECT_DOUBLE_EQ(chunks[3]["usage"]["cost"].get<double>(), (10 * 3.0 + 2 * 5.0) / 1e6);
  EXPECT_EQ(chunks[4], "[DONE]");
  EXPECT_EQ(chunks[0]["id"], "chatcmpl-test");
  EXPECT_EQ(chunks[0]["provider"], "fake");
}

TEST_F(CompletionWritersTest, SseFailureBeforeFirstByteIsAPlainErrorReply) {
  auto writer = make_sse_writer(channel_, identity_);
  writer->fail(Error::unavailable("nothing works", 7));
  ASSERT_EQ(channel_->replies.size(), 1u);
  EXPECT_FALSE(channel_->started);
  EXPECT_EQ(channel_->replies[0].status, 503u);
  EXPECT_EQ(json::parse(channel_->replies[0].body)["error"]["code"], "no_route_available");
}

TEST_F(CompletionWritersTest, SseFailureAfterFirstByteIsInBandErrorThenDone) {
  auto writer = make_sse_writer(channel_, identity_);
  writer->write(TextDelta{0, "partial"});
  EXPECT_TRUE(writer->committed());
  writer->write(StreamFailed{Error::upstream("upstream reset", FailureClass::transient)});
  EXPECT_TRUE(channel_->ended);
  auto chunks = data_chunks();
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[1]["error"]["message"], "upstream reset");
  EXPECT_EQ(chunks[1]["choices"][0]["finish_reason"], "error");
  EXPECT_EQ(chunks[2], "[DONE]");
}

TEST_F(CompletionWritersTest, KeepaliveIsAnSseComment) {
  auto writer = make_sse_writer(channel_, identity_);
  writer->keepalive();
  EXPECT_EQ(channel_->body, ": keep-alive\n\n");
}

TEST_F(CompletionWritersTest, JsonWriterAnswersOnceWithTheWholeCompletion) {
  auto writer = make_json_writer(channel_, identity_);
  writer->write(TextDelta{0, "abandoned attempt"});
  writer->begin_attempt();  // a fallback: what the failed attempt said must not leak into the answer
  writer->write(TextDelta{0, "Hello"});
  writer->write(ChoiceFinished{0, FinishReason::length, "length"});
  writer->write(UsageReport{1, 1, 0});
  EXPECT_TRUE(channel_->replies.empty());
  writer->write(StreamDone{});
  ASSERT_EQ(channel_->replies.size(), 1u);
  json body = json::parse(channel_->replies[0].body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "Hello");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(body["usage"]["total_tokens"], 2);
  EXPECT_EQ(channel_->replies[0].headers.at(0), (std::pair<std::string, std::string>{"x-modelgate-route", "fake/echo"}));
}

TEST_F(CompletionWritersTest, CompletionFlavorUsesTextCompletionShapes) {
  identity_.flavor = ApiFlavor::completion;
  auto writer = make_sse_writer(channel_, identity_);
  writer->write(TextDelta{0, "once"});
  writer->write(ChoiceFinished{0, FinishReason::stop, "stop"});
  writer->write(StreamDone{});
  auto chunks = data_chunks();
  EXPECT_EQ(chunks[0]["object"], "text_completion");
  EXPECT_EQ(chunks[0]["choices"][0]["text"], "once");
  EXPECT_EQ(chunks[1]["choices"][0]["finish_reason"], "stop");
}

TEST_F(CompletionWritersTest, InvalidUtf8FromAProviderIsReplacedNotThrown) {
  auto writer = make_sse_writer(channel_, identity_);
  writer->write(TextDelta{0, "bad \xff byte"});
  auto chunks = data_chunks();
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0]["choices"][0]["delta"]["content"], "bad \xef\xbf\xbd byte");  // U+FFFD
}

}  // namespace
}  // namespace mg::gateway
