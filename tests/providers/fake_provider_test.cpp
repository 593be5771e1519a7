#include "providers/fake_provider.h"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "formats/openai_wire.h"

namespace mg {
namespace {

ChatRequest request_from(const char* json_text) {
  Result<ChatRequest> parsed = parse_chat_request(json_text, ApiFlavor::chat);
  EXPECT_TRUE(parsed) << parsed.error().message;
  return std::move(parsed).value();
}

Result<Completion> run_chat(const std::string& model, const ChatRequest& request, RequestContext context = {}) {
  boost::asio::io_context io;
  FakeProvider provider(io.get_executor(), FakeProviderOptions{std::chrono::milliseconds(5), std::chrono::milliseconds(1), 1, 2});
  std::optional<Result<Completion>> outcome;
  provider.chat(std::make_shared<const ChatRequest>(request), model, context, [&](Result<Completion> r) { outcome.emplace(std::move(r)); });
  io.run();
  EXPECT_TRUE(outcome.has_value());
  return std::move(*outcome);
}

TEST(FakeProviderTest, EchoesTheLastUserMessageWithUsage) {
  auto result = run_chat("echo", request_from(R"({"model":"echo","messages":[{"role":"user","content":"alpha beta"}]})"));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->choices.at(0).text, "You said: alpha beta");
  EXPECT_EQ(result->usage->prompt_tokens, 2);
  EXPECT_EQ(result->usage->completion_tokens, 4);
}

TEST(FakeProviderTest, StopSequenceCutsTheAnswer) {
  auto result = run_chat("slow", request_from(R"({"model":"slow","stop":"beta","messages":[{"role":"user","content":"alpha beta"}]})"));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->choices.at(0).text, "You said: alpha ");
}

TEST(FakeProviderTest, ForcedToolChoiceCallsThatTool) {
  auto result = run_chat("echo", request_from(R"({"model":"echo","messages":[{"role":"user","content":"go"}],
      "tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"b"}}],
      "tool_choice":{"type":"function","function":{"name":"b"}}})"));
  ASSERT_TRUE(result);
  ASSERT_EQ(result->choices.at(0).tool_calls.size(), 1u);
  EXPECT_EQ(result->choices[0].tool_calls[0].name, "b");
  EXPECT_EQ(result->choices[0].tool_calls[0].arguments, R"({"input":"go"})");
}

TEST(FakeProviderTest, ErrorAndFlakyModelsFail) {
  auto request = request_from(R"({"model":"x","messages":[{"role":"user","content":"a b c"}]})");
  auto error = run_chat("error", request);
  ASSERT_FALSE(error);
  EXPECT_EQ(error.error().failure, FailureClass::transient);
  auto flaky = run_chat("flaky", request);
  ASSERT_FALSE(flaky);
  EXPECT_NE(flaky.error().message.find("mid-stream"), std::string::npos);
}

TEST(FakeProviderTest, CancellationStopsASlowStream) {
  boost::asio::io_context io;
  FakeProvider provider(io.get_executor(), FakeProviderOptions{std::chrono::seconds(30), std::chrono::seconds(30), 1, 2});
  RequestContext context;
  std::optional<ChatEvent> last;
  auto request = std::make_shared<const ChatRequest>(request_from(R"({"model":"slow","messages":[{"role":"user","content":"hi"}]})"));
  provider.chat_stream(request, "slow", context, [&](ChatEvent event) { last = std::move(event); });
  context.cancellation.cancel();
  auto started = std::chrono::steady_clock::now();
  io.run();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  ASSERT_TRUE(last && std::holds_alternative<StreamFailed>(*last));
  EXPECT_EQ(std::get<StreamFailed>(*last).error.failure, FailureClass::cancelled);
}

}  // namespace
}  // namespace mg
