// The newer client APIs' parsers (Anthropic Messages, OpenAI Responses), checked by what an upstream
// receives: each body's request written as OpenAI chat JSON (to_openai_json) against the JSON those APIs'
// references say it means, and every refusal naming its field.
#include <functional>

#include <gtest/gtest.h>

#include "formats/anthropic_messages.h"
#include "formats/openai_embeddings.h"
#include "formats/openai_responses.h"

namespace mg {
namespace {

using nlohmann::json;

json upstream_json(const Result<ChatRequest>& parsed) {
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().message);
  return parsed.ok() ? to_openai_json(parsed.value()) : json();
}

TEST(AnthropicMessagesParseTest, ATurnOfEveryBlockKindBecomesTheOpenAiConversation) {
  const char* body = R"({
    "model": "mistral-7b-instruct", "max_tokens": 300, "stream": true,
    "system": [{"type": "text", "text": "You are terse."}, {"type": "text", "text": "Use tools.", "cache_control": {"type": "ephemeral"}}],
    "messages": [
      {"role": "user", "content": [{"type": "text", "text": "What is in "}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]},
      {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "s"}, {"type": "text", "text": "Checking."},
                                        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "is_error": false,
                                    "content": [{"type": "text", "text": "found"}, {"type": "image", "source": {"type": "url", "url": "https://example.com/s.png"}}]},
                                   {"type": "text", "text": "Thanks."}]}
    ],
    "stop_sequences": ["END"], "temperature": 0.2, "top_p": 0.9, "top_k": 40, "metadata": {"user_id": "u-42"},
    "tools": [{"name": "lookup", "description": "Look up", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}],
    "tool_choice": {"type": "tool", "name": "lookup", "disable_parallel_tool_use": true},
    "thinking": {"type": "enabled", "budget_tokens": 1024}, "service_tier": "auto",
    "models": ["mixtral-8x7b-instruct"], "provider": {"sort": "price"}
  })";
  json expected = json::parse(R"({
    "model": "mistral-7b-instruct", "models": ["mixtral-8x7b-instruct"], "provider": {"sort": "price"},
    "max_tokens": 300, "stream": true,
    "messages": [
      {"role": "system", "content": "You are terse.\nUse tools."},
      {"role": "user", "content": [{"type": "text", "text": "What is in "}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
      {"role": "assistant", "content": "Checking.", "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"x\"}"}}]},
      {"role": "tool", "tool_call_id": "toolu_1", "content": "found"},
      {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/s.png"}}, {"type": "text", "text": "Thanks."}]}
    ],
    "stop": ["END"], "temperature": 0.2, "top_p": 0.9, "top_k": 40, "user": "u-42",
    "tools": [{"type": "function", "function": {"name": "lookup", "description": "Look up", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}],
    "tool_choice": {"type": "function", "function": {"name": "lookup"}}, "parallel_tool_calls": false
  })");
  json got = upstream_json(parse_anthropic_messages(body, AnthropicBody::message));
  EXPECT_EQ(got, expected) << got.dump(1);
}

TEST(AnthropicMessagesParseTest, ACountTokensBodyNeedsNoMaxTokens) {
  const char* body = R"({"model": "m", "messages": [{"role": "user", "content": "Hi"}]})";
  EXPECT_TRUE(parse_anthropic_messages(body, AnthropicBody::count_tokens).ok());
  Result<ChatRequest> message = parse_anthropic_messages(body, AnthropicBody::message);
  ASSERT_FALSE(message.ok());
  EXPECT_EQ(message.error().message, "'max_tokens' is required");
}

struct Refusal {
  const char* body;
  const char* message_part;
};

void expect_refusals(const std::vector<Refusal>& cases, const std::function<Result<ChatRequest>(std::string_view)>& parse) {
  for (const Refusal& refusal : cases) {
    Result<ChatRequest> parsed = parse(refusal.body);
    ASSERT_FALSE(parsed.ok()) << refusal.body;
    EXPECT_EQ(parsed.error().http_status, 400) << refusal.body;
    EXPECT_EQ(parsed.error().type, "invalid_request_error");
    EXPECT_NE(parsed.error().message.find(refusal.message_part), std::string::npos) << refusal.body << "\n -> " << parsed.error().message;
  }
}

TEST(AnthropicMessagesParseTest, RefusalsNameWhatWasWrong) {
  const std::string deep = std::string(70, '[') + std::string(70, ']');
  const std::string too_deep = R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"unmodelled":)" + deep + "}";
  std::vector<Refusal> cases = {
      {R"({"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]})", "'max_tokens' must be between 1 and"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"system","content":"x"}]})", "'messages[0].role' must be \"user\" or \"assistant\""},
      {R"({"model":"m","max_tokens":1,"messages":[]})", "'messages' must contain at least one message"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"t"}]}]})", "a tool_result block belongs in a user message"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document","source":{}}]}]})", "'messages[0].content[0].type' 'document' is not supported"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search_20250305","name":"web_search"}]})", "server tool 'web_search_20250305'"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"a","input_schema":{}}],"tool_choice":{"type":"tool","name":"b"}})", "names no function in 'tools'"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"temperature":1.5})", "'temperature' must be between 0.0 and 1.0"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"mcp_servers":[]})", "'mcp_servers'  is not supported"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"text"}]}]})", "'messages[0].content[0].text' is required"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}]} x)", "there are bytes after the JSON value"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x",}]})", "not valid JSON"},
      {"{\"model\":\"m\xff\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "not valid UTF-8"},
      {R"([{"model":"m"}])", "must be a JSON object; got an array"},
      {too_deep.c_str(), "JSON nests deeper than 64 levels at byte"},
      {"", "not valid JSON"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"unmodelled":01})", "a number is malformed or out of range"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"unmodelled":[1e400]})", "a number is malformed or out of range"},
      {R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],"unmodelled":{"a":tru}})", "a literal is not true, false or null"},
  };
  expect_refusals(cases, [](std::string_view body) { return parse_anthropic_messages(body, AnthropicBody::message); });
}

TEST(AnthropicMessagesParseTest, NumbersReadAsNlohmannReadsThem) {
  const char* body = R"({"model":"m","max_tokens":1,"messages":[{"role":"user","content":"x"}],
    "tools":[{"name":"t","input_schema":{"a":-9223372036854775808,"b":18446744073709551615,"c":123456789012345678901234567890,"d":-0.5e-3,"e":-0}}]})";
  Result<ChatRequest> parsed = parse_anthropic_messages(body, AnthropicBody::message);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const char* schema = R"({"a":-9223372036854775808,"b":18446744073709551615,"c":123456789012345678901234567890,"d":-0.5e-3,"e":-0})";
  EXPECT_EQ(parsed.value().tools[0].parameters, json::parse(schema));
  EXPECT_EQ(parsed.value().tools[0].parameters.dump(), json::parse(schema).dump());
}

// The Responses API's function tools are strict unless the client says otherwise; chat's are not.
TEST(OpenAiResponsesParseTest, AFunctionToolIsStrictUnlessSaidOtherwise) {
  json tools = upstream_json(parse_openai_responses(R"({"model":"m","input":"Hi","tools":[
      {"type":"function","name":"a","parameters":{"type":"object"}},
      {"type":"function","name":"b","parameters":{"type":"object"},"strict":false}]})"))["tools"];
  EXPECT_EQ(tools[0]["function"]["strict"], true);
  EXPECT_EQ(tools[1]["function"]["strict"], false);
}

TEST(OpenAiResponsesParseTest, InstructionsAndEveryItemKindBecomeTheOpenAiConversation) {
  const char* body = R"({
    "model": "mistral-7b-instruct", "instructions": "You are terse.", "max_output_tokens": 128, "temperature": 1.2, "top_p": 0.5,
    "input": [
      {"role": "developer", "content": "Use tools."},
      {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in "},
                                                     {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"}]},
      {"type": "reasoning", "id": "rs_1", "summary": []},
      {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
      {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": "{\"city\":\"Rome\"}"},
      {"type": "function_call_output", "call_id": "call_1", "output": "Sunny"},
      {"type": "function_call_output", "call_id": "call_2", "output": "Rain"}
    ],
    "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": true}],
    "tool_choice": "required", "parallel_tool_calls": true, "store": false, "user": "u-1", "metadata": {"k": "v"},
    "reasoning": {"effort": "low"}, "truncation": "disabled",
    "text": {"format": {"type": "json_schema", "name": "weather", "schema": {"type": "object"}, "strict": true}}
  })";
  json expected = json::parse(R"({
    "model": "mistral-7b-instruct", "max_tokens": 128, "temperature": 1.2, "top_p": 0.5,
    "messages": [
      {"role": "system", "content": "You are terse."},
      {"role": "developer", "content": "Use tools."},
      {"role": "user", "content": [{"type": "text", "text": "Weather in "}, {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}]},
      {"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
        {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
      {"role": "tool", "tool_call_id": "call_2", "content": "Rain"}
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}, "strict": true}}],
    "tool_choice": "required", "parallel_tool_calls": true, "user": "u-1",
    "response_format": {"type": "json_schema", "json_schema": {"name": "weather", "schema": {"type": "object"}, "strict": true}}
  })");
  json got = upstream_json(parse_openai_responses(body));
  EXPECT_EQ(got, expected) << got.dump(1);
}

TEST(OpenAiResponsesParseTest, WhatNeedsStoredStateIsRefusedByName) {
  std::vector<Refusal> cases = {
      {R"({"model":"m","input":"x","previous_response_id":"resp_1"})", "'previous_response_id' is not supported"},
      {R"({"model":"m","input":"x","store":true})", "'store' is not supported"},
      {R"({"model":"m","input":"x","background":true})", "'background' is not supported"},
      {R"({"model":"m","input":"x","conversation":"conv_1"})", "'conversation' is not supported"},
      {R"({"model":"m","input":[{"type":"item_reference","id":"msg_1"}]})", "'input[0]' is not supported"},
      {R"({"model":"m","input":"x","tools":[{"type":"web_search"}]})", "the hosted tool 'web_search'"},
      {R"({"model":"m","input":"x","tools":[{"type":"function","name":"a"}],"tool_choice":{"type":"function","name":"b"}})", "names no function in 'tools'"},
      {R"({"model":"m","input":"x","tool_choice":"required"})", "'tool_choice' requires 'tools'"},
      {R"({"model":"m"})", "'input' is required"},
      {R"({"model":"m","input":[]})", "'input' must hold at least one item"},
      {R"({"model":"m","input":[{"role":"robot","content":"x"}]})", "'input[0].role' must be"},
      {R"({"model":"m","input":"x","max_output_tokens":0})", "'max_output_tokens' must be between 1 and"},
      {R"({"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"n"}}})", "'text.format.schema' is required"},
  };
  expect_refusals(cases, [](std::string_view body) { return parse_openai_responses(body); });
}

// Every API's parse builds within its heap budget and reports what it built: thousands of tiny messages,
// inputs or members cost several times their text as typed records, and past the budget the parse is a
// 413.
TEST(ClientApiParseBudgetTest, EveryApiCountsWhatItBuildsAndStopsAtItsBudget) {
  auto repeated = [](const std::string& head, const std::string& item, const std::string& tail) {
    std::string body = head;
    for (int i = 0; i < 20'000; ++i) body += (i ? "," : "") + item;
    return body + tail;
  };
  const std::string chat = repeated(R"({"model":"m","messages":[)", R"({"role":"user","content":""})", "]}");
  const std::string anthropic = repeated(R"({"model":"m","max_tokens":1,"messages":[)", R"({"role":"user","content":"x"})", "]}");
  const std::string responses = repeated(R"({"model":"m","input":[)", R"({"role":"user","content":"x"})", "]}");
  const std::string embeddings = repeated(R"({"model":"m","input":[)", "7", "]}");  // one input of 20,000 token ids
  std::string members = R"({"model":"m","messages":[{"role":"user","content":"x"}])";  // 20,000 members passed on
  for (int i = 0; i < 20'000; ++i) members += ",\"k" + std::to_string(i) + "\":0";
  members += "}";
  using Parse = std::function<Result<ChatRequest>(const std::string&, const JsonLimits&, std::size_t*)>;
  const std::vector<std::pair<std::string, Parse>> parsers = {
      {chat, [](const std::string& b, const JsonLimits& l, std::size_t* n) { return parse_chat_request(b, ApiFlavor::chat, l, n); }},
      {members, [](const std::string& b, const JsonLimits& l, std::size_t* n) { return parse_chat_request(b, ApiFlavor::chat, l, n); }},
      {anthropic, [](const std::string& b, const JsonLimits& l, std::size_t* n) { return parse_anthropic_messages(b, AnthropicBody::message, l, n); }},
      {responses, [](const std::string& b, const JsonLimits& l, std::size_t* n) { return parse_openai_responses(b, l, n); }},
      {embeddings, [](const std::string& b, const JsonLimits& l, std::size_t* n) { return parse_embedding_request(b, l, n); }},
  };
  for (const auto& [body, parse] : parsers) {
    std::size_t parsed_bytes = 0;
    ASSERT_TRUE(parse(body, {}, &parsed_bytes)) << body.substr(0, 60);
    EXPECT_GT(parsed_bytes, 20'000 * sizeof(std::int64_t)) << body.substr(0, 60);  // a record per item, at least
    JsonLimits tight;
    tight.max_parsed_bytes = parsed_bytes / 4;
    std::size_t spent_when_refused = 0;
    Result<ChatRequest> refused = parse(body, tight, &spent_when_refused);
    ASSERT_FALSE(refused) << body.substr(0, 60);
    EXPECT_EQ(refused.error().http_status, 413);
    EXPECT_EQ(refused.error().code, "request_too_complex");
    EXPECT_LT(spent_when_refused, parsed_bytes) << "stops at the budget, not at the end";
  }
}

}  // namespace
}  // namespace mg
