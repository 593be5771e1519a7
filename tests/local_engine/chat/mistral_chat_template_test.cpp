// The Mistral chat templates against mistral-common's own ids: every conversation of
// tests/local_engine/data/mistral_tokenizer/chat_cases.jsonl must give exactly its ids. Then what the
// vectors do not cover: template selection, mistral-common's request rules, prefixes and normalization.
#include "local_engine/chat/mistral_chat_template.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "tests/local_engine/chat/chat_test_support.h"

namespace mg::engine {
namespace {

using nlohmann::ordered_json;  // keeps the key order of tool parameters, which reaches the prompt
using testing::chat_tokenizer;
using testing::escaped;
using testing::v1_model_file;
using testing::v3_model_file;

constexpr std::size_t vector_count = 17;

const std::string& chat_cases_path() {
  static const std::string path =
      std::string(MODELGATE_SOURCE_DIR) + "/tests/local_engine/data/mistral_tokenizer/chat_cases.jsonl";
  return path;
}

std::vector<ordered_json> read_chat_cases() {
  std::ifstream file(chat_cases_path());
  if (!file) throw std::runtime_error("cannot open " + chat_cases_path());
  std::vector<ordered_json> cases;
  for (std::string line; std::getline(file, line);) {
    if (!line.empty()) cases.push_back(ordered_json::parse(line));
  }
  return cases;
}

const std::vector<ordered_json>& chat_cases() {
  static const std::vector<ordered_json> cases = read_chat_cases();
  return cases;
}

std::string string_or_empty(const ordered_json& object, const char* key) {
  const auto found = object.find(key);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
}

// OpenAI's arguments are JSON text; a few clients send an object, which is its text too.
std::string json_text(const ordered_json& value) { return value.is_string() ? value.get<std::string>() : value.dump(); }

ChatRole role_from(const std::string& role) {
  if (role == "system") return ChatRole::system;
  if (role == "user") return ChatRole::user;
  if (role == "assistant") return ChatRole::assistant;
  if (role == "tool") return ChatRole::tool;
  throw std::runtime_error("unknown role '" + role + "'");
}

ChatMessage message_from(const ordered_json& json) {
  ChatMessage message;
  message.role = role_from(json.at("role").get<std::string>());
  message.content = string_or_empty(json, "content");
  message.tool_call_id = string_or_empty(json, "tool_call_id");
  message.name = string_or_empty(json, "name");
  if (json.contains("tool_calls") && json.at("tool_calls").is_array()) {
    for (const ordered_json& call : json.at("tool_calls")) {
      const ordered_json& function = call.at("function");
      message.tool_calls.push_back(ChatToolCall{string_or_empty(call, "id"), function.at("name").get<std::string>(),
                                                json_text(function.at("arguments"))});
    }
  }
  return message;
}

ChatTool tool_from(const ordered_json& json) {
  const ordered_json& function = json.at("function");
  ChatTool tool{function.at("name").get<std::string>(), string_or_empty(function, "description"), ""};
  if (function.contains("parameters") && !function.at("parameters").is_null())
    tool.parameters = function.at("parameters").dump();
  return tool;
}

ChatConversation conversation_from(const ordered_json& json) {
  ChatConversation conversation;
  for (const ordered_json& message : json.at("messages")) conversation.messages.push_back(message_from(message));
  if (json.contains("tools") && json.at("tools").is_array()) {
    for (const ordered_json& tool : json.at("tools")) conversation.tools.push_back(tool_from(tool));
  }
  return conversation;
}

MistralTemplateVersion version_from(int number) {
  switch (number) {
    case 1: return MistralTemplateVersion::v1;
    case 2: return MistralTemplateVersion::v2;
    case 3: return MistralTemplateVersion::v3;
    default: throw std::runtime_error("unknown tokenizer_version " + std::to_string(number));
  }
}

// v1 has its own 32000-piece model; v2 and v3 share the 32768-piece one (mistral-common's v2 model file
// differs from it only in pieces that these conversations never produce).
const SentencePieceTokenizer& tokenizer_for(MistralTemplateVersion version) {
  return chat_tokenizer(version == MistralTemplateVersion::v1 ? v1_model_file : v3_model_file);
}

std::string piece_or_end(const SentencePieceTokenizer& tokenizer, const std::vector<std::int32_t>& ids, std::size_t i) {
  return i < ids.size() ? std::to_string(ids[i]) + " '" + escaped(tokenizer.piece(ids[i])) + "'" : "(end)";
}

// Empty when equal; else the first differing position with both ids and the pieces around it.
std::string first_difference(const SentencePieceTokenizer& tokenizer, const std::vector<std::int32_t>& expected,
                             const std::vector<std::int32_t>& actual) {
  if (expected == actual) return {};
  std::size_t i = 0;
  while (i < expected.size() && i < actual.size() && expected[i] == actual[i]) ++i;
  std::ostringstream out;
  out << "first difference at position " << i << " of " << expected.size() << " expected / " << actual.size()
      << " built: expected " << piece_or_end(tokenizer, expected, i) << ", built " << piece_or_end(tokenizer, actual, i)
      << "\n  context before:";
  for (std::size_t j = i >= 6 ? i - 6 : 0; j < i; ++j) out << " '" << escaped(tokenizer.piece(expected[j])) << "'";
  out << "\n  expected next:";
  for (std::size_t j = i; j < std::min(expected.size(), i + 8); ++j)
    out << " '" << escaped(tokenizer.piece(expected[j])) << "'";
  out << "\n  built next:   ";
  for (std::size_t j = i; j < std::min(actual.size(), i + 8); ++j)
    out << " '" << escaped(tokenizer.piece(actual[j])) << "'";
  return out.str();
}

TEST(MistralChatTemplateVectorsTest, FileHoldsTheSeventeenConversations) {
  ASSERT_EQ(chat_cases().size(), vector_count);
}

class MistralChatTemplateVectorTest : public ::testing::TestWithParam<std::size_t> {};

TEST_P(MistralChatTemplateVectorTest, BuildsExactlyMistralCommonsIds) {
  ASSERT_LT(GetParam(), chat_cases().size());
  const ordered_json& vector = chat_cases()[GetParam()];
  const MistralTemplateVersion version = version_from(vector.at("tokenizer_version").get<int>());
  const SentencePieceTokenizer& tokenizer = tokenizer_for(version);
  const auto expected = vector.at("ids").get<std::vector<std::int32_t>>();

  const std::vector<std::int32_t> built = build_mistral_prompt(tokenizer, version, conversation_from(vector));
  const std::string difference = first_difference(tokenizer, expected, built);
  EXPECT_TRUE(difference.empty()) << "template " << version_name(version) << ", "
                                  << vector.at("source").get<std::string>() << ": " << difference;
}

INSTANTIATE_TEST_SUITE_P(ChatCases, MistralChatTemplateVectorTest, ::testing::Range<std::size_t>(0, vector_count));

// --- What the vectors leave out, built from the same segments mistral-common concatenates.

ChatMessage user(std::string content) { return ChatMessage{ChatRole::user, std::move(content), {}, "", "", false}; }
ChatMessage system_message(std::string content) {
  return ChatMessage{ChatRole::system, std::move(content), {}, "", "", false};
}
ChatMessage assistant(std::string content, bool prefix = false) {
  return ChatMessage{ChatRole::assistant, std::move(content), {}, "", "", prefix};
}
ChatMessage assistant_calls(std::vector<ChatToolCall> calls) {
  return ChatMessage{ChatRole::assistant, "", std::move(calls), "", "", false};
}
ChatMessage tool_result(std::string content, std::string call_id, std::string name = "get_weather") {
  return ChatMessage{ChatRole::tool, std::move(content), {}, std::move(call_id), std::move(name), false};
}
ChatToolCall weather_call(std::string id = "abc123XYZ") {
  return ChatToolCall{std::move(id), "get_weather", R"({"city": "Paris"})"};
}
ChatTool weather_tool() {
  return ChatTool{"get_weather", "Weather in a city", R"({"type":"object","properties":{"city":{"type":"string"}}})"};
}

class MistralChatTemplateTest : public ::testing::Test {
 protected:
  const SentencePieceTokenizer& v1_ = chat_tokenizer(v1_model_file);
  const SentencePieceTokenizer& v3_ = chat_tokenizer(v3_model_file);

  std::vector<std::int32_t> text(const SentencePieceTokenizer& tokenizer, std::string_view segment) const {
    return tokenizer.encode(segment, false);
  }
  std::int32_t control(std::string_view piece) const { return v3_.find(piece); }
};

std::vector<std::int32_t> concat(std::initializer_list<std::vector<std::int32_t>> parts) {
  std::vector<std::int32_t> ids;
  for (const auto& part : parts) ids.insert(ids.end(), part.begin(), part.end());
  return ids;
}

TEST_F(MistralChatTemplateTest, SelectsV1ForThePlainTextVocabulary) {
  EXPECT_EQ(select_template(v1_, std::nullopt), MistralTemplateVersion::v1);
  EXPECT_EQ(select_template(v1_, "{{ bos_token }}{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}"),
            MistralTemplateVersion::v1);
}

TEST_F(MistralChatTemplateTest, SelectsV3ForTheControlVocabularyUnlessTheTemplateIsV2) {
  EXPECT_EQ(select_template(v3_, std::nullopt), MistralTemplateVersion::v3);
  EXPECT_EQ(select_template(v3_, "{{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}"),
            MistralTemplateVersion::v3);
  // Mistral 7B v0.3's template writes call ids into tool results.
  EXPECT_EQ(
      select_template(
          v3_,
          R"({{- "[INST] " }}...{{- "[TOOL_CALLS] [" }}...{{- '[TOOL_RESULTS] {"content": ' + content|string + ", " }}{{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }})"),
      MistralTemplateVersion::v3);
  EXPECT_EQ(select_template(v3_, R"({{- "[INST] " }}...{{- "[TOOL_CALLS] " }}...{{- '[TOOL_RESULTS] [{"name": ' }})"),
            MistralTemplateVersion::v2);
}

TEST_F(MistralChatTemplateTest, RefusesTemplatesAndVocabulariesThatAreNotMistrals) {
  EXPECT_THROW(
      select_template(v3_, "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>{% endfor %}"),
      std::invalid_argument);
  Vocabulary vocabulary = testing::oracle_run(v3_model_file).vocabulary;
  vocabulary.tokens[static_cast<std::size_t>(control("[TOOL_CALLS]"))] = "[NOT_TOOL_CALLS]";
  const SentencePieceTokenizer without_tool_calls(vocabulary);
  try {
    select_template(without_tool_calls, std::nullopt);
    FAIL() << "a vocabulary with [INST] but without [TOOL_CALLS] was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("[TOOL_CALLS]"), std::string::npos) << error.what();
  }
  EXPECT_THROW(build_mistral_prompt(v1_, MistralTemplateVersion::v3, {{user("Hi")}, {}}), std::invalid_argument);
}

TEST_F(MistralChatTemplateTest, FinalAssistantPrefixIsLeftOpenWithoutEos) {
  const ChatConversation conversation{{user("Hi"), assistant("Hello  ", /*prefix=*/true)}, {}};
  // v2/v3 drop the prefix's trailing spaces (str.rstrip(" ")), v1 keeps them.
  EXPECT_EQ(build_mistral_prompt(v3_, MistralTemplateVersion::v3, conversation),
            concat({{v3_.bos_id(), control("[INST]")}, text(v3_, "Hi"), {control("[/INST]")}, text(v3_, "Hello")}));
  EXPECT_EQ(build_mistral_prompt(v1_, MistralTemplateVersion::v1, conversation),
            concat({{v1_.bos_id()}, text(v1_, "[INST] Hi [/INST]"), text(v1_, "Hello  ")}));
}

TEST_F(MistralChatTemplateTest, NormalizesLikeMistralCommon) {
  // A conversation opening with the assistant gets an empty user message first; "" encodes to nothing.
  EXPECT_EQ(build_mistral_prompt(v3_, MistralTemplateVersion::v3, {{assistant("A"), user("B")}, {}}),
            concat({{v3_.bos_id(), control("[INST]"), control("[/INST]")},
                    text(v3_, "A"),
                    {v3_.eos_id(), control("[INST]")},
                    text(v3_, "B"),
                    {control("[/INST]")}}));
  // A system message between two user messages splits them, and joins the system prompt of the last one.
  EXPECT_EQ(build_mistral_prompt(v3_, MistralTemplateVersion::v3, {{user("a"), system_message("S"), user("b")}, {}}),
            concat({{v3_.bos_id(), control("[INST]")},
                    text(v3_, "a"),
                    {control("[/INST]"), control("[INST]")},
                    text(v3_, "S\n\nb"),
                    {control("[/INST]")}}));
  // A system prompt alone still makes one [INST] block.
  EXPECT_EQ(build_mistral_prompt(v3_, MistralTemplateVersion::v3, {{system_message("S")}, {}}),
            concat({{v3_.bos_id(), control("[INST]")}, text(v3_, "S\n\n"), {control("[/INST]")}}));
}

TEST_F(MistralChatTemplateTest, V2DropsToolHistoryBeforeTheLastUserMessageAndV3KeepsIt) {
  const ChatConversation conversation{{user("Weather?"), assistant_calls({weather_call()}),
                                       tool_result("22", "abc123XYZ"), assistant("22 C."), user("Thanks")},
                                      {weather_tool()}};
  const std::vector<std::int32_t> v2 = build_mistral_prompt(v3_, MistralTemplateVersion::v2, conversation);
  const std::vector<std::int32_t> v3 = build_mistral_prompt(v3_, MistralTemplateVersion::v3, conversation);
  EXPECT_EQ(std::count(v2.begin(), v2.end(), control("[TOOL_CALLS]")), 0);
  EXPECT_EQ(std::count(v2.begin(), v2.end(), control("[TOOL_RESULTS]")), 0);
  EXPECT_EQ(std::count(v3.begin(), v3.end(), control("[TOOL_CALLS]")), 1);
  EXPECT_EQ(std::count(v3.begin(), v3.end(), control("[TOOL_RESULTS]")), 1);
  const std::vector<std::int32_t> v3_call =
      concat({{control("[TOOL_CALLS]")},
              text(v3_, R"([{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "abc123XYZ"}])"),
              {v3_.eos_id(), control("[TOOL_RESULTS]")},
              text(v3_, R"({"content": 22, "call_id": "abc123XYZ"})"),
              {control("[/TOOL_RESULTS]")}});
  EXPECT_NE(std::search(v3.begin(), v3.end(), v3_call.begin(), v3_call.end()), v3.end());
}

void expect_refused(const SentencePieceTokenizer& tokenizer, MistralTemplateVersion version,
                    const ChatConversation& conversation, std::string_view reason) {
  try {
    build_mistral_prompt(tokenizer, version, conversation);
    ADD_FAILURE() << "accepted; expected a refusal mentioning \"" << reason << "\"";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find(reason), std::string::npos) << error.what();
  }
}

TEST_F(MistralChatTemplateTest, RefusesConversationsMistralCommonRefuses) {
  const auto v3 = MistralTemplateVersion::v3;
  expect_refused(v3_, v3, {}, "no messages");
  expect_refused(v3_, v3, {{assistant("A")}, {}}, "only message");
  expect_refused(v3_, v3, {{user("Q"), assistant("A")}, {}}, "without `prefix`");
  expect_refused(v3_, v3, {{user("Q"), tool_result("22", "abc123XYZ")}, {}}, "follows message 0 (user)");
  expect_refused(v3_, v3, {{user("Q"), assistant("A"), system_message("S"), user("R")}, {}},
                 "follows message 1 (assistant)");
  expect_refused(v3_, v3,
                 {{user("Q"), assistant_calls({weather_call(), weather_call("def456UVW")}),
                   tool_result("1", "abc123XYZ"), user("R")},
                  {}},
                 "made 2 tool calls, answered by 1");
  expect_refused(v3_, v3, {{user("Q"), assistant_calls({weather_call()}), user("R")}, {}},
                 "made 1 tool calls, answered by 0");
  // mistral-common does not count the calls of a first message, so their results are too many.
  expect_refused(v3_, v3, {{assistant_calls({weather_call()}), tool_result("1", "abc123XYZ"), user("R")}, {}},
                 "answer no counted tool call");
  ChatMessage both = assistant("A");
  both.tool_calls = {weather_call()};
  expect_refused(v3_, v3, {{user("Q"), both, tool_result("1", "abc123XYZ")}, {}}, "both content and tool calls");
  expect_refused(v3_, v3, {{user("Q"), assistant(""), user("R")}, {}}, "neither content nor tool calls");
  expect_refused(v3_, v3, {{user("Q"), assistant("A", true), user("R")}, {}}, "not the last message");
  // Two assistant messages in a row merge; text and calls cannot share one message.
  expect_refused(v3_, v3,
                 {{user("Q"), assistant("A"), assistant_calls({weather_call()}), tool_result("1", "abc123XYZ")}, {}},
                 "merge into one");
}

TEST_F(MistralChatTemplateTest, RefusesWhatAVersionCannotExpress) {
  const auto v1 = MistralTemplateVersion::v1;
  const auto v3 = MistralTemplateVersion::v3;
  expect_refused(v1_, v1, {{user("Q"), assistant_calls({weather_call()}), tool_result("1", "abc123XYZ")}, {}},
                 "v1 template cannot express");
  expect_refused(v1_, v1, {{user("Q")}, {weather_tool()}}, "cannot express tools");
  expect_refused(v3_, v3, {{user("Q"), assistant_calls({weather_call("call_1")}), tool_result("1", "abc123XYZ")}, {}},
                 "9 letters or digits");
  expect_refused(v3_, v3, {{user("Q"), assistant_calls({weather_call("")}), tool_result("1", "abc123XYZ")}, {}},
                 "has no id");
  expect_refused(v3_, v3, {{user("Q"), assistant_calls({weather_call()}), tool_result("1", "")}, {}},
                 "no tool_call_id");
  expect_refused(v3_, v3, {{user("Q")}, {ChatTool{"get weather", "", ""}}}, "function name 'get weather'");
  expect_refused(v3_, v3, {{user("Q")}, {ChatTool{"get_weather", "", "[1]"}}}, "parameters must be a JSON object");
  ChatToolCall surrogate = weather_call();
  surrogate.arguments = R"({"city": "\ud800"})";
  expect_refused(v3_, v3, {{user("Q"), assistant_calls({surrogate}), tool_result("1", "abc123XYZ")}, {}}, "surrogate");
}

TEST_F(MistralChatTemplateTest, AcceptsWhatMistralCommonAccepts) {
  // v2 needs no call ids; Python's `$` lets one final newline through a name check.
  EXPECT_NO_THROW(
      build_mistral_prompt(v3_, MistralTemplateVersion::v2,
                           {{user("Q"), assistant_calls({weather_call("")}), tool_result("1", "")}, {weather_tool()}}));
  EXPECT_NO_THROW(
      build_mistral_prompt(v3_, MistralTemplateVersion::v3, {{user("Q")}, {ChatTool{"get_weather\n", "", ""}}}));
  // Text that is no JSON goes in as a JSON string; empty text as {}.
  const std::vector<std::int32_t> ids = build_mistral_prompt(
      v3_, MistralTemplateVersion::v3,
      {{user("Q"), assistant_calls({ChatToolCall{"abc123XYZ", "f", ""}}), tool_result("it's \"sunny\"", "abc123XYZ")},
       {}});
  const std::vector<std::int32_t> tail = concat({{control("[TOOL_CALLS]")},
                                                 text(v3_, R"([{"name": "f", "arguments": {}, "id": "abc123XYZ"}])"),
                                                 {v3_.eos_id(), control("[TOOL_RESULTS]")},
                                                 text(v3_, R"({"content": "it's \"sunny\"", "call_id": "abc123XYZ"})"),
                                                 {control("[/TOOL_RESULTS]")}});
  ASSERT_GE(ids.size(), tail.size());
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), ids.end() - static_cast<std::ptrdiff_t>(tail.size())));
}

}  // namespace
}  // namespace mg::engine
