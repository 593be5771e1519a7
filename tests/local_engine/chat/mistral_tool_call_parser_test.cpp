// Reading a v3 model's answer back: text, or [TOOL_CALLS] and a JSON list of calls, ids kept or made.
#include "local_engine/chat/mistral_tool_call_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "local_engine/chat/mistral_chat_template.h"
#include "tests/local_engine/chat/chat_test_support.h"

namespace mg::engine {
namespace {

using testing::chat_tokenizer;

class MistralChatToolCallParserTest : public ::testing::Test {
 protected:
  const SentencePieceTokenizer& v3_ = chat_tokenizer(testing::v3_model_file);
  const std::int32_t tool_calls_ = v3_.find("[TOOL_CALLS]");

  // What a model writes: [TOOL_CALLS], the JSON as text, EOS.
  std::vector<std::int32_t> calls_output(std::string_view json) const {
    std::vector<std::int32_t> ids = {tool_calls_};
    const std::vector<std::int32_t> text = v3_.encode(json, false);
    ids.insert(ids.end(), text.begin(), text.end());
    ids.push_back(v3_.eos_id());
    return ids;
  }

  MistralAssistantOutput parse(std::span<const std::int32_t> ids) {
    return parse_mistral_output(v3_, ids, [this] { return "generated" + std::to_string(++ids_made_); });
  }

  int ids_made_ = 0;
};

TEST_F(MistralChatToolCallParserTest, PlainAnswerIsContent) {
  std::vector<std::int32_t> ids = v3_.encode("The weather is fine.", false);
  ids.push_back(v3_.eos_id());
  ids.push_back(v3_.find("[INST]"));  // after EOS: ignored
  const MistralAssistantOutput output = parse(ids);
  EXPECT_EQ(output.content, "The weather is fine.");
  EXPECT_TRUE(output.tool_calls.empty());
  EXPECT_EQ(output.error, "");
}

TEST_F(MistralChatToolCallParserTest, CallsKeepTheirIdsAndArgumentsAreWrittenByJsonDumps) {
  const MistralAssistantOutput output = parse(calls_output(
      R"([{"name": "get_weather", "arguments": {"city":"Paris","days":3.0}, "id": "abc123XYZ"}, {"name": "get_time", "arguments": "{\"tz\": \"CET\"}"}])"));
  ASSERT_EQ(output.error, "");
  ASSERT_EQ(output.tool_calls.size(), 2u);
  EXPECT_EQ(output.content, "");
  EXPECT_EQ(output.tool_calls[0].name, "get_weather");
  EXPECT_EQ(output.tool_calls[0].arguments, R"({"city": "Paris", "days": 3.0})");
  EXPECT_EQ(output.tool_calls[0].id, "abc123XYZ");
  EXPECT_EQ(output.tool_calls[1].name, "get_time");
  EXPECT_EQ(output.tool_calls[1].arguments, R"({"tz": "CET"})");  // a string is the arguments' text
  EXPECT_EQ(output.tool_calls[1].id, "generated1");               // no id: a new one
}

TEST_F(MistralChatToolCallParserTest, AcceptsOneObjectTextBeforeAndSeveralSegments) {
  std::vector<std::int32_t> ids = v3_.encode("Let me check.", false);
  const std::vector<std::int32_t> first = calls_output(R"({"name": "a", "id": "call_1"})");
  const std::vector<std::int32_t> second = calls_output(R"([{"name": "b", "arguments": {}}])");
  ids.insert(ids.end(), first.begin(), first.end() - 1);  // without its EOS
  ids.insert(ids.end(), second.begin(), second.end());
  const MistralAssistantOutput output = parse(ids);
  ASSERT_EQ(output.error, "");
  EXPECT_EQ(output.content, "Let me check.");
  ASSERT_EQ(output.tool_calls.size(), 2u);
  EXPECT_EQ(output.tool_calls[0].name, "a");
  EXPECT_EQ(output.tool_calls[0].arguments, "{}");
  EXPECT_EQ(output.tool_calls[0].id, "generated1");  // "call_1" is no v3 id
  EXPECT_EQ(output.tool_calls[1].name, "b");
}

TEST_F(MistralChatToolCallParserTest, BrokenCallsAreAnErrorNotAnException) {
  for (const std::string_view broken : {R"([{"name": "a", "arguments": {)", R"("just text")", R"([{"arguments": {}}])",
                                        R"([1, 2])", R"([{"name": "a"}] and more)", R"(["\ud800"])"}) {
    MistralAssistantOutput output;
    ASSERT_NO_THROW(output = parse(calls_output(broken))) << broken;
    EXPECT_NE(output.error, "") << broken;
    EXPECT_TRUE(output.tool_calls.empty()) << broken;
    EXPECT_NE(output.tool_call_text, "") << broken;
  }
}

TEST_F(MistralChatToolCallParserTest, ReadsBackTheCallsAV3PromptWrites) {
  const ChatConversation conversation{
      {ChatMessage{ChatRole::user, "Weather?", {}, "", "", false},
       ChatMessage{
           ChatRole::assistant, "", {ChatToolCall{"abc123XYZ", "get_weather", "{\"city\":\"Paris\"}"}}, "", "", false},
       ChatMessage{ChatRole::tool, "22", {}, "abc123XYZ", "get_weather", false}},
      {}};
  const std::vector<std::int32_t> prompt = build_mistral_prompt(v3_, MistralTemplateVersion::v3, conversation);
  const auto start = std::find(prompt.begin(), prompt.end(), tool_calls_);
  ASSERT_NE(start, prompt.end());
  const MistralAssistantOutput output = parse(std::span<const std::int32_t>(start, prompt.end()));
  ASSERT_EQ(output.error, "");
  ASSERT_EQ(output.tool_calls.size(), 1u);
  EXPECT_EQ(output.tool_calls[0].name, "get_weather");
  EXPECT_EQ(output.tool_calls[0].arguments, R"({"city": "Paris"})");
  EXPECT_EQ(output.tool_calls[0].id, "abc123XYZ");
}

TEST_F(MistralChatToolCallParserTest, AVocabularyWithoutToolCallsGivesOnlyContent) {
  const SentencePieceTokenizer& v1 = chat_tokenizer(testing::v1_model_file);
  const MistralAssistantOutput output =
      parse_mistral_output(v1, v1.encode("[TOOL_CALLS] [{\"name\": \"a\"}]", false), [] { return std::string("x"); });
  EXPECT_EQ(output.content, "[TOOL_CALLS] [{\"name\": \"a\"}]");
  EXPECT_TRUE(output.tool_calls.empty());
}

TEST(MistralChatToolCallIdTest, MakesNineLettersOrDigitsFromTheCallersBits) {
  std::set<std::string> ids;
  for (const std::uint64_t bits : {0ULL, 1ULL, 61ULL, 62ULL, 0x0123456789abcdefULL, ~0ULL}) {
    const std::string id = mistral_tool_call_id(bits);
    EXPECT_EQ(id.size(), 9u);
    EXPECT_TRUE(std::all_of(id.begin(), id.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }))
        << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 6u);
  EXPECT_EQ(mistral_tool_call_id(42), mistral_tool_call_id(42));
}

}  // namespace
}  // namespace mg::engine
