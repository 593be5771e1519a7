// Anthropic's Messages API on the upstream side: the gateway's request as the body Anthropic's API
// reference describes, and Anthropic's streamed events (the reference's own tool-use stream, fed as SSE
// bytes) and whole messages back into the answer.
#include <gtest/gtest.h>

#include "core/completion.h"
#include "core/sse_parser.h"
#include "formats/anthropic_messages.h"
#include "formats/anthropic_upstream.h"

namespace mg {
namespace {

using nlohmann::json;

ChatRequest openai_request(const char* body) {
  Result<ChatRequest> parsed = parse_chat_request(body, ApiFlavor::chat);
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().message);
  return parsed.ok() ? parsed.value() : ChatRequest{};
}

constexpr const char* kConversation = R"({
  "model": "m", "max_tokens": 100, "stream": true, "temperature": 1.5, "top_p": 0.9, "stop": ["END"], "user": "u-1",
  "parallel_tool_calls": false, "tool_choice": "required",
  "messages": [
    {"role": "system", "content": "Be terse."},
    {"role": "developer", "content": "Use tools."},
    {"role": "user", "content": [{"type": "text", "text": "What is in "}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
    {"role": "assistant", "content": "Checking.", "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"x\"}"}}]},
    {"role": "tool", "tool_call_id": "toolu_1", "content": "found"},
    {"role": "user", "content": "Thanks."}
  ],
  "tools": [{"type": "function", "function": {"name": "lookup", "description": "Look up", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]
})";

TEST(AnthropicUpstreamWriteTest, AConversationOfEveryKindBecomesTheMessagesBody) {
  Result<json> body = to_anthropic_json(openai_request(kConversation));
  ASSERT_TRUE(body.ok()) << body.error().message;
  json expected = json::parse(R"({
    "system": "Be terse.\nUse tools.", "max_tokens": 100, "stream": true, "temperature": 1.0,
    "stop_sequences": ["END"], "metadata": {"user_id": "u-1"},
    "messages": [
      {"role": "user", "content": [{"type": "text", "text": "What is in "},
                                   {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]},
      {"role": "assistant", "content": [{"type": "text", "text": "Checking."}, {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "found"}]},
                                   {"type": "text", "text": "Thanks."}]}
    ],
    "tools": [{"name": "lookup", "description": "Look up", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}],
    "tool_choice": {"type": "any", "disable_parallel_tool_use": true}
  })");
  EXPECT_EQ(*body, expected) << body->dump(1);
  // What Anthropic's API would receive, read back by the gateway's own Messages parser, is the same request.
  json sent = *body;
  sent["model"] = "m";
  Result<ChatRequest> read_back = parse_anthropic_messages(sent.dump(), AnthropicBody::message);
  ASSERT_TRUE(read_back.ok()) << read_back.error().message;
  EXPECT_EQ(read_back->messages.size(), 5u);  // the system prompt, and the four turns
  EXPECT_EQ(read_back->tools.front().name, "lookup");
}

// An Anthropic client's failed tool reaches an Anthropic route still marked as failed.
TEST(AnthropicUpstreamWriteTest, AToolResultsErrorFlagReachesTheRoute) {
  Result<ChatRequest> parsed = parse_anthropic_messages(R"({"model":"m","max_tokens":8,"messages":[
    {"role":"user","content":"Weather?"},
    {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}]},
    {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","is_error":true,"content":"timed out"}]}]})",
                                                        AnthropicBody::message);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  Result<json> body = to_anthropic_json(*parsed);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ((*body)["messages"][2]["content"][0],
            json::parse(R"({"type":"tool_result","tool_use_id":"toolu_1","is_error":true,"content":[{"type":"text","text":"timed out"}]})"));
}

// What Anthropic's API refuses is not sent: tool_use blocks with no tools declared, a schema without its
// type, text blocks of whitespace, temperature with top_p.
TEST(AnthropicUpstreamWriteTest, TheBodyKeepsToWhatTheApiAccepts) {
  Result<json> body = to_anthropic_json(openai_request(R"({"model":"m","temperature":0.5,"top_p":0.9,"messages":[
    {"role":"user","content":[{"type":"text","text":"  "},{"type":"text","text":"Weather?"}]},
    {"role":"assistant","content":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"get_weather","arguments":""}}]},
    {"role":"tool","tool_call_id":"t1","content":"Sunny"}]})"));
  ASSERT_TRUE(body.ok()) << body.error().message;
  EXPECT_EQ((*body)["messages"][0]["content"], json::parse(R"([{"type":"text","text":"Weather?"}])"));
  EXPECT_EQ((*body)["messages"][1]["content"][0]["input"], json::object());
  EXPECT_EQ((*body)["tools"], json::parse(R"([{"name":"get_weather","input_schema":{"type":"object"}}])"));
  EXPECT_EQ((*body)["tool_choice"], json::parse(R"({"type":"none"})"));
  EXPECT_EQ((*body)["temperature"], 0.5);
  EXPECT_FALSE(body->contains("top_p"));
  body = to_anthropic_json(openai_request(R"({"model":"m","messages":[{"role":"user","content":"Hi"}],
    "tools":[{"type":"function","function":{"name":"f","parameters":{"properties":{}}}}]})"));
  ASSERT_TRUE(body.ok());
  EXPECT_EQ((*body)["tools"][0]["input_schema"], json::parse(R"({"type":"object","properties":{}})"));
}

TEST(AnthropicUpstreamWriteTest, MaxTokensIsAlwaysSentAndWhatTheApiCannotExpressIsRefused) {
  Result<json> body = to_anthropic_json(openai_request(R"({"model":"m","messages":[{"role":"user","content":"Hi"}]})"));
  ASSERT_TRUE(body.ok());
  EXPECT_EQ((*body)["max_tokens"], kAnthropicDefaultMaxTokens);
  EXPECT_EQ((*body)["messages"], json::parse(R"([{"role":"user","content":[{"type":"text","text":"Hi"}]}])"));
  for (const char* refused : {R"({"model":"m","n":2,"messages":[{"role":"user","content":"Hi"}]})",
                              R"({"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}}]}]})",
                              R"({"model":"m","messages":[{"role":"user","content":"Hi"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}]})",
                              R"({"model":"m","messages":[{"role":"user","content":"Hi"}],"response_format":{"type":"json_object"}})",
                              R"({"model":"m","messages":[{"role":"system","content":"Only a system prompt"}]})"}) {
    Result<json> written = to_anthropic_json(openai_request(refused));
    ASSERT_FALSE(written.ok()) << refused;
    EXPECT_EQ(written.error().failure, FailureClass::unsupported);  // another route may take it; this one is not to blame
    EXPECT_TRUE(written.error().message.starts_with("Anthropic's Messages API cannot take ")) << written.error().message;
  }
}

// The reference's streaming example with a tool call (docs.anthropic.com, "Streaming Messages").
constexpr const char* kToolUseStream =
    "event: message_start\n"
    R"(data: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-3-haiku-20240307","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2},"content":[],"stop_reason":null}})"
    "\n\n"
    "event: content_block_start\n"
    R"(data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"
    "\n\n"
    "event: ping\n"
    R"(data: {"type": "ping"})"
    "\n\n"
    "event: content_block_delta\n"
    R"(data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay, let's check"}})"
    "\n\n"
    "event: content_block_delta\n"
    R"(data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" the weather."}})"
    "\n\n"
    "event: content_block_stop\n"
    R"(data: {"type":"content_block_stop","index":0})"
    "\n\n"
    "event: content_block_start\n"
    R"(data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}})"
    "\n\n"
    "event: content_block_delta\n"
    R"(data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}})"
    "\n\n"
    "event: content_block_delta\n"
    R"(data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\":"}})"
    "\n\n"
    "event: content_block_delta\n"
    R"(data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \"San Francisco, CA\"}"}})"
    "\n\n"
    "event: content_block_stop\n"
    R"(data: {"type":"content_block_stop","index":1})"
    "\n\n"
    "event: message_delta\n"
    R"(data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}})"
    "\n\n"
    "event: message_stop\n"
    R"(data: {"type":"message_stop"})"
    "\n\n";

// Feeds `sse` to a decoder a few bytes at a time, as a network delivers it, and folds the events.
CompletionAccumulator decode_stream(std::string_view sse, bool end_stream = false) {
  AnthropicAnswerDecoder decoder(7);
  CompletionAccumulator answer;
  std::vector<ChatEvent> events;
  SseParser parser([&](SseEvent&& event) { decoder.on_stream_data(event.data, events); }, [](std::string_view) {});
  for (std::size_t at = 0; at < sse.size(); at += 13) EXPECT_TRUE(parser.feed(sse.substr(at, 13)).ok());
  if (end_stream) decoder.on_stream_end(events);
  for (const ChatEvent& event : events) answer.add(event);
  return answer;
}

TEST(AnthropicAnswerDecoderTest, TheReferencesToolUseStreamBecomesTextAToolCallAndUsage) {
  CompletionAccumulator answer = decode_stream(kToolUseStream);
  ASSERT_TRUE(answer.done());
  const Completion& completion = answer.completion();
  ASSERT_EQ(completion.choices.size(), 1u);
  const ChoiceResult& choice = completion.choices[0];
  EXPECT_EQ(choice.text, "Okay, let's check the weather.");
  ASSERT_EQ(choice.tool_calls.size(), 1u);
  EXPECT_EQ(choice.tool_calls[0].id, "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
  EXPECT_EQ(choice.tool_calls[0].name, "get_weather");
  EXPECT_EQ(json::parse(choice.tool_calls[0].arguments), json::parse(R"({"location": "San Francisco, CA"})"));
  EXPECT_EQ(choice.finish_reason, FinishReason::tool_calls);
  EXPECT_EQ(choice.native_finish_reason, "tool_use");
  EXPECT_EQ(completion.usage->prompt_tokens, 472);
  EXPECT_EQ(completion.usage->completion_tokens, 89);
}

TEST(AnthropicAnswerDecoderTest, CacheReadsAndWritesArePartOfThePromptAsOpenAiCountsIt) {
  std::string stream = std::string("event: message_start\n") +
                       R"(data: {"type":"message_start","message":{"usage":{"input_tokens":10,"cache_read_input_tokens":100,"cache_creation_input_tokens":20,"output_tokens":1}}})" +
                       "\n\nevent: message_delta\n" + R"(data: {"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"###"},"usage":{"output_tokens":3}})" +
                       "\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  CompletionAccumulator answer = decode_stream(stream);
  ASSERT_TRUE(answer.done());
  const UsageReport& usage = *answer.completion().usage;
  EXPECT_EQ(usage.prompt_tokens, 130);
  EXPECT_EQ(usage.cached_prompt_tokens, 100);
  EXPECT_EQ(usage.cache_write_prompt_tokens, 20);
  EXPECT_EQ(usage.completion_tokens, 3);
  EXPECT_EQ(answer.completion().choices[0].stop_sequence, "###");
  EXPECT_EQ(answer.completion().choices[0].finish_reason, FinishReason::stop);
}

// A tool without input streams no partial_json; a later event repeating usage as null keeps the counts.
TEST(AnthropicAnswerDecoderTest, ANoInputToolCallHasEmptyObjectArgumentsAndNullUsageChangesNothing) {
  std::string stream = std::string("event: message_start\n") +
                       R"(data: {"type":"message_start","message":{"usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":1}}})" +
                       "\n\nevent: content_block_start\n" +
                       R"(data: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_9","name":"now","input":{}}})" +
                       "\n\nevent: content_block_stop\n" R"(data: {"type":"content_block_stop","index":0})" +
                       "\n\nevent: message_delta\n" +
                       R"(data: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"input_tokens":null,"cache_read_input_tokens":null,"output_tokens":4}})" +
                       "\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  CompletionAccumulator answer = decode_stream(stream);
  ASSERT_TRUE(answer.done());
  EXPECT_EQ(answer.completion().choices[0].tool_calls[0].arguments, "{}");
  EXPECT_EQ(answer.completion().usage->prompt_tokens, 15);
  EXPECT_EQ(answer.completion().usage->cached_prompt_tokens, 5);
  EXPECT_EQ(answer.completion().usage->completion_tokens, 4);
}

TEST(AnthropicAnswerDecoderTest, AnErrorEventOrAStreamCutBeforeMessageStopFails) {
  std::string overloaded(kToolUseStream);
  overloaded.resize(overloaded.find("event: ping"));
  overloaded += "event: error\n" R"(data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})" "\n\n";
  CompletionAccumulator failed = decode_stream(overloaded);
  ASSERT_TRUE(failed.failure());
  EXPECT_EQ(failed.failure()->failure, FailureClass::transient);
  EXPECT_EQ(failed.failure()->message, "upstream error: Overloaded");
  std::string cut(kToolUseStream);
  cut.resize(cut.find("event: message_stop"));
  CompletionAccumulator broken = decode_stream(cut, true);
  ASSERT_TRUE(broken.failure());
  EXPECT_FALSE(broken.done());
}

TEST(AnthropicAnswerDecoderTest, AWholeMessageBecomesTheSameEvents) {
  AnthropicAnswerDecoder decoder(7);
  std::vector<ChatEvent> events;
  decoder.on_body(R"({"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[
                       {"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"Sunny."},
                       {"type":"tool_use","id":"toolu_2","name":"get_weather","input":{"city":"Paris"}}],
                     "stop_reason":"max_tokens","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":30}})",
                  events);
  CompletionAccumulator answer;
  for (const ChatEvent& event : events) answer.add(event);
  ASSERT_TRUE(answer.done());
  const ChoiceResult& choice = answer.completion().choices[0];
  EXPECT_EQ(choice.text, "Sunny.");
  ASSERT_EQ(choice.tool_calls.size(), 1u);
  EXPECT_EQ(json::parse(choice.tool_calls[0].arguments), json::parse(R"({"city":"Paris"})"));
  EXPECT_EQ(choice.finish_reason, FinishReason::length);
  EXPECT_EQ(answer.completion().usage->prompt_tokens, 12);
  EXPECT_EQ(answer.completion().usage->completion_tokens, 30);
}

}  // namespace
}  // namespace mg
