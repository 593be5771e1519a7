#include "formats/openai_wire.h"

#include <gtest/gtest.h>

namespace mg {
namespace {

using nlohmann::json;

const char* const kFullSurface = R"({
  "model": "mistral-7b-instruct",
  "models": ["mixtral-8x7b-instruct", "mistral-7b-instruct:floor"],
  "messages": [
    {"role": "system", "content": "You are terse."},
    {"role": "developer", "content": "Answer in English."},
    {"role": "user", "content": [{"type": "text", "text": "What is "}, {"type": "image_url", "image_url": {"url": "data:x"}},
                                 {"type": "text", "text": "this?"}], "name": "alice"},
    {"role": "assistant", "content": null, "tool_calls": [
      {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"x\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "found"}
  ],
  "stream": true, "stream_options": {"include_usage": true},
  "n": 2, "stop": ["\n\n", "END"], "seed": -7, "max_completion_tokens": 256,
  "temperature": 0.7, "top_p": 0.9, "top_k": 40, "min_p": 0.05,
  "frequency_penalty": 0.5, "presence_penalty": -0.5, "repetition_penalty": 1.1,
  "logit_bias": {"50256": -100, "13": 2.5}, "logprobs": true, "top_logprobs": 5, "user": "user-42",
  "tools": [{"type": "function", "function": {"name": "lookup", "description": "Look up", "strict": true,
             "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}],
  "tool_choice": {"type": "function", "function": {"name": "lookup"}},
  "parallel_tool_calls": false,
  "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "strict": true, "schema": {"type": "object"}}},
  "provider": {"order": ["deepinfra", "together"], "only": ["deepinfra", "together", "groq"], "ignore": ["bedrock"],
               "allow_fallbacks": false, "sort": "throughput", "max_price": {"prompt": 1, "completion": 2.5},
               "require_parameters": true, "preferred_min_throughput": {"p50": 100, "p90": 50},
               "preferred_max_latency": 2.5, "data_collection": "deny"},
  "transforms": ["middle-out"], "metadata": {"trace": "abc"}
})";

TEST(OpenAiWireTest, ParsesTheWholeRequestSurface) {
  Result<ChatRequest> parsed = parse_chat_request(kFullSurface, ApiFlavor::chat);
  ASSERT_TRUE(parsed) << parsed.error().message;
  const ChatRequest& r = *parsed;
  EXPECT_EQ(r.model, "mistral-7b-instruct");
  EXPECT_EQ(r.requested_models(), (std::vector<std::string>{"mistral-7b-instruct", "mixtral-8x7b-instruct", "mistral-7b-instruct:floor"}));
  ASSERT_EQ(r.messages.size(), 5u);
  EXPECT_EQ(r.messages[1].role, Role::developer);
  EXPECT_EQ(r.messages[2].text(), "What is this?");
  EXPECT_EQ(r.messages[2].content_parts.size(), 3u);
  EXPECT_EQ(r.messages[2].name, "alice");
  EXPECT_EQ(r.messages[3].tool_calls.at(0).name, "lookup");
  EXPECT_EQ(r.messages[4].tool_call_id, "call_1");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.n, 2);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_EQ(r.max_tokens, 256);
  EXPECT_TRUE(r.max_tokens_sent_as_max_completion_tokens);
  EXPECT_EQ(r.sampling.seed, -7);
  EXPECT_DOUBLE_EQ(*r.sampling.temperature, 0.7);
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_DOUBLE_EQ(r.sampling.logit_bias.at(50256), -100);
  EXPECT_EQ(r.sampling.top_logprobs, 5);
  ASSERT_EQ(r.tools.size(), 1u);
  EXPECT_EQ(r.tools[0].strict, true);
  EXPECT_EQ(r.tool_choice->mode, ToolChoice::Mode::function);
  EXPECT_EQ(r.parallel_tool_calls, false);
  EXPECT_EQ(r.response_format->type, ResponseFormat::Type::json_schema);
  EXPECT_EQ(r.response_format->schema_name, "answer");
  ASSERT_TRUE(r.provider);
  EXPECT_FALSE(r.provider->allow_fallbacks);
  EXPECT_EQ(r.provider->sort, "throughput");
  EXPECT_DOUBLE_EQ(*r.provider->max_price_completion_usd_per_mtok, 2.5);
  EXPECT_DOUBLE_EQ(*r.provider->preferred_min_throughput->p90, 50);
  EXPECT_DOUBLE_EQ(*r.provider->preferred_max_latency->p50, 2.5);
  EXPECT_EQ(r.provider->extra["data_collection"], "deny");
  EXPECT_EQ(r.user, "user-42");
  EXPECT_EQ(r.passthrough, json::parse(R"({"transforms": ["middle-out"], "metadata": {"trace": "abc"}})"));
}

TEST(OpenAiWireTest, SerialisingGivesBackWhatWasSentIncludingUnknownFields) {
  json original = json::parse(kFullSurface);
  Result<ChatRequest> parsed = parse_chat_request(kFullSurface, ApiFlavor::chat);
  ASSERT_TRUE(parsed);
  json written = to_openai_json(*parsed);
  // preferred_max_latency was a plain number: it comes back in its equivalent percentile form.
  original["provider"]["preferred_max_latency"] = {{"p50", 2.5}};
  EXPECT_EQ(written, original) << written.dump(2);
}

TEST(OpenAiWireTest, NullFieldsMeanNotSet) {
  Result<ChatRequest> parsed =
      parse_chat_request(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":null,"tools":null})", ApiFlavor::chat);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_FALSE(parsed->sampling.temperature);
  EXPECT_TRUE(parsed->tools.empty());
}

TEST(OpenAiWireTest, ModelsAloneIsEnoughAndRepeatsAreDropped) {
  Result<ChatRequest> parsed = parse_chat_request(R"({"models":["a","b","a"],"messages":[{"role":"user","content":"x"}]})", ApiFlavor::chat);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->requested_models(), (std::vector<std::string>{"a", "b"}));
}

TEST(OpenAiWireTest, LegacyPromptAcceptsStringOrSingleElementArray) {
  auto from_string = parse_chat_request(R"({"model":"m","prompt":"Once"})", ApiFlavor::completion);
  ASSERT_TRUE(from_string);
  EXPECT_EQ(from_string->prompt, "Once");
  auto from_array = parse_chat_request(R"({"model":"m","prompt":["upon"]})", ApiFlavor::completion);
  ASSERT_TRUE(from_array);
  EXPECT_EQ(from_array->prompt, "upon");
  auto batch = parse_chat_request(R"({"model":"m","prompt":["a","b"]})", ApiFlavor::completion);
  ASSERT_FALSE(batch);
  EXPECT_EQ(batch.error().param, "prompt");
  EXPECT_EQ(to_openai_json(*from_string)["prompt"], "Once");
}

TEST(OpenAiWireTest, GatewayOptionsAreReadAndNeverPassedOn) {
  auto parsed = parse_chat_request(R"({"model":"m","stream":true,"modelgate":{"resume":true},"messages":[{"role":"user","content":"x"}]})",
                                   ApiFlavor::chat);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_TRUE(parsed->resume_stream);
  EXPECT_FALSE(to_openai_json(*parsed).contains("modelgate"));
}

TEST(OpenAiWireTest, AssistantWithToolCallsNeedsNoContent) {
  auto parsed = parse_chat_request(
      R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}]})",
      ApiFlavor::chat);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_FALSE(parsed->messages[0].content);
}

struct ErrorCase {
  const char* body;
  const char* param;
  const char* message_fragment;
};

class OpenAiWireErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(OpenAiWireErrorTest, ErrorSaysWhatExpectedAndGot) {
  Result<ChatRequest> parsed = parse_chat_request(GetParam().body, ApiFlavor::chat);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().http_status, 400);
  EXPECT_EQ(parsed.error().failure, FailureClass::caller_fault);
  EXPECT_EQ(parsed.error().param, GetParam().param);
  EXPECT_NE(parsed.error().message.find(GetParam().message_fragment), std::string::npos) << parsed.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Fields, OpenAiWireErrorTest,
    ::testing::Values(
        ErrorCase{R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"})", "temperature",
                  "must be a number; got string \"hot\""},
        ErrorCase{R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":2.5})", "temperature",
                  "must be between 0 and 2; got 2.5"},
        ErrorCase{R"({"model":"m","messages":[{"role":"user","content":"x"},{"role":"user","content":{"a":1}}]})", "messages[1].content",
                  "must be a string, an array of content parts or null"},
        ErrorCase{R"({"model":"m","messages":[{"role":"user","content":"x","tool_calls":[]}]})", "messages[0].tool_calls",
                  "only allowed on assistant messages"},
        ErrorCase{R"({"model":"m","messages":[{"role":"assistant","content":"x","tool_calls":[{"id":"c","function":{}}]}]})",
                  "messages[0].tool_calls[0].function.name", "is required"},
        ErrorCase{R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"has space"}}]})",
                  "tools[0].function.name", "1 to 64 characters"},
        ErrorCase{R"({"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"required"})", "tool_choice", "requires 'tools'"},
        ErrorCase{R"({"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"sometimes"})", "tool_choice",
                  "must be one of none, auto, required"},
        ErrorCase{R"({"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema"}})",
                  "response_format.json_schema", "is required"},
        ErrorCase{R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":10,"max_completion_tokens":20})",
                  "max_completion_tokens", "disagrees with 'max_tokens'"},
        ErrorCase{R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":[""]})", "stop[0]", "must not be empty"},
        ErrorCase{R"({"model":"m","messages":[{"role":"user","content":"x"}],"logit_bias":{"5":101}})", "logit_bias.5",
                  "between -100 and 100"},
        ErrorCase{R"({"model":"m","messages":[{"role":"user","content":"x"}],"provider":{"max_price":{"prompt":-1}}})",
                  "provider.max_price.prompt", "between 0"},
        ErrorCase{R"({"model":"m","messages":[{"role":"user","content":"x"}],"provider":{"preferred_max_latency":{"p42":1}}})",
                  "provider.preferred_max_latency.p42", "is not a percentile"},
        ErrorCase{R"({"model":"m","messages":[{"role":"user","content":"x"}],"provider":{"order":"groq"}})", "provider.order",
                  "must be an array of strings"},
        ErrorCase{R"({"model":"m","models":["a",""],"messages":[{"role":"user","content":"x"}]})", "models[1]", "must not be empty"},
        ErrorCase{R"({"model":"m","messages":[{"role":"user","content":"x"}],"modelgate":{"resume":"yes"}})", "modelgate.resume",
                  "must be a boolean"},
        ErrorCase{R"({"model":"m","messages":[{"role":"user","content":"x"}],"modelgate":{"resum":true}})", "modelgate.resum", "is not a known setting"},
        ErrorCase{R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":1}})",
                  "stream_options.include_usage", "must be a boolean"},
        ErrorCase{R"({"model":"m","messages":[{"role":"user","content":"x"}],"seed":1e400})", "", "not valid JSON"}));

TEST(OpenAiWireTest, NestingDepthIsBoundedBeforeParsing) {
  std::string deep = std::string(65, '[') + std::string(65, ']');
  auto result = parse_json_document(deep);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, "json_too_deep");
  std::string fine = std::string(64, '[') + std::string(64, ']');
  EXPECT_TRUE(parse_json_document(fine));
  EXPECT_TRUE(parse_json_document(R"({"s":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\""})"));
}

}  // namespace
}  // namespace mg
