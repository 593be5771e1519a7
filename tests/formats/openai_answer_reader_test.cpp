// read_answer_chunk against nlohmann's DOM as the oracle: the same document parsed whole, and the fields
// the decoder needs picked from it as the DOM gives them (the last duplicate key wins, a wrong type is
// absent). Hand-picked documents for each rule, then thousands of random ones built from the same keys.
#include "formats/openai_answer_reader.h"

#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace mg {
namespace {

using nlohmann::json;

std::string string_or_empty(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::int64_t integer_or_zero(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

std::optional<std::int64_t> index_of(const json& object) {
  return object.contains("index") ? std::optional(integer_or_zero(object, "index")) : std::nullopt;
}

ToolCallFragment dom_tool_call(const json& call, std::size_t position) {
  ToolCallFragment fragment{index_of(call), position, string_or_empty(call, "id"), {}, {}};
  if (auto function = call.find("function"); function != call.end() && function->is_object()) {
    fragment.name = string_or_empty(*function, "name");
    fragment.arguments = string_or_empty(*function, "arguments");
  }
  return fragment;
}

ChoiceFragment dom_choice(const json& choice, const std::string& body_key) {
  ChoiceFragment fragment;
  fragment.index = index_of(choice);
  fragment.text = string_or_empty(choice, "text");
  fragment.finish_reason = string_or_empty(choice, "finish_reason");
  auto body = body_key.empty() ? choice.end() : choice.find(body_key);
  if (body == choice.end() || !body->is_object()) return fragment;
  fragment.has_body = true;
  fragment.content = string_or_empty(*body, "content");
  if (auto calls = body->find("tool_calls"); calls != body->end() && calls->is_array()) {
    for (std::size_t i = 0; i < calls->size(); ++i) {
      if ((*calls)[i].is_object()) fragment.tool_calls.push_back(dom_tool_call((*calls)[i], i));
    }
  }
  return fragment;
}

std::optional<AnswerChunk> dom_oracle(const std::string& text, const std::string& body_key) {
  json document = json::parse(text, nullptr, false);
  if (document.is_discarded() || !document.is_object()) return std::nullopt;
  AnswerChunk chunk;
  if (auto error = document.find("error"); error != document.end()) {
    chunk.error = error->is_object() ? string_or_empty(*error, "message") : error->is_string() ? error->get<std::string>() : "";
  }
  if (auto usage = document.find("usage"); usage != document.end() && usage->is_object()) {
    chunk.usage = UsageFragment{integer_or_zero(*usage, "prompt_tokens"), integer_or_zero(*usage, "completion_tokens"), 0};
    if (auto details = usage->find("prompt_tokens_details"); details != usage->end() && details->is_object()) {
      chunk.usage->cached_prompt_tokens = integer_or_zero(*details, "cached_tokens");
    }
  }
  if (auto choices = document.find("choices"); choices != document.end() && choices->is_array()) {
    chunk.has_choices = true;
    for (const json& choice : *choices) {
      if (choice.is_object()) chunk.choices.push_back(dom_choice(choice, body_key));
    }
  }
  return chunk;
}

// Both as one comparable JSON value, so a mismatch prints what differs.
json as_json(const std::optional<AnswerChunk>& chunk) {
  if (!chunk) return "not an object";
  json choices = json::array();
  for (const ChoiceFragment& choice : chunk->choices) {
    json calls = json::array();
    for (const ToolCallFragment& call : choice.tool_calls) {
      calls.push_back({call.index ? json(*call.index) : json(nullptr), call.position, call.id, call.name, call.arguments});
    }
    choices.push_back({choice.index ? json(*choice.index) : json(nullptr), choice.has_body, choice.content, choice.text, calls,
                       choice.finish_reason});
  }
  json usage = chunk->usage ? json{chunk->usage->prompt_tokens, chunk->usage->completion_tokens, chunk->usage->cached_prompt_tokens}
                            : json(nullptr);
  return {{"error", chunk->error ? json(*chunk->error) : json(nullptr)}, {"usage", usage}, {"has_choices", chunk->has_choices},
          {"choices", choices}};
}

void expect_as_dom(const std::string& text, const std::string& body_key = "delta") {
  EXPECT_EQ(as_json(read_answer_chunk(text, body_key)), as_json(dom_oracle(text, body_key))) << text;
}

TEST(OpenAiAnswerReaderTest, ATypicalStreamChunk) {
  std::string text = R"({"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,)"
                     R"("delta":{"role":"assistant","content":"Hel\"lo\u00e9"},"logprobs":null,"finish_reason":null}]})";
  auto chunk = read_answer_chunk(text, "delta");
  ASSERT_TRUE(chunk);
  ASSERT_EQ(chunk->choices.size(), 1u);
  EXPECT_EQ(chunk->choices[0].content, "Hel\"lo\xc3\xa9");
  expect_as_dom(text);
}

TEST(OpenAiAnswerReaderTest, UsageErrorsAndToolCalls) {
  expect_as_dom(R"({"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":8}}})");
  expect_as_dom(R"({"error":{"message":"overloaded","code":529}})");
  expect_as_dom(R"({"error":"plain"})");
  expect_as_dom(R"({"error":null,"choices":[{"delta":{"content":"x"}}]})");
  expect_as_dom(R"({"choices":[{"index":1,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function",)"
                R"("function":{"name":"get","arguments":"{\"a\":"}},{"function":{"arguments":"1}"}},7,{"index":3}]}}]})");
  expect_as_dom(R"({"choices":[{"index":0,"message":{"content":"whole"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1}})",
                "message");
  expect_as_dom(R"({"choices":[{"index":0,"text":"completion","finish_reason":"length"}]})", "");
}

TEST(OpenAiAnswerReaderTest, TheLastOfDuplicateKeysWinsAndWrongTypesAreAbsent) {
  expect_as_dom(R"({"choices":[{"delta":{"content":"a"}}],"choices":[{"delta":{"content":"b"}}]})");
  expect_as_dom(R"({"choices":[{"delta":{"content":"a"}}],"choices":"none"})");
  expect_as_dom(R"({"usage":{"prompt_tokens":5},"usage":7})");
  expect_as_dom(R"({"choices":[{"index":"2","delta":{"content":4,"tool_calls":{}},"finish_reason":false,"text":null}]})");
  expect_as_dom(R"({"choices":[{"index":1.5,"delta":[],"text":"t"}]})");
  expect_as_dom(R"({"choices":[{"index":18446744073709551615,"delta":{"content":"big"}}]})");
  expect_as_dom(R"({"choices":[{"delta":{"content":"a","content":"b","tool_calls":[{"id":"x"}],"tool_calls":[]}}]})");
}

TEST(OpenAiAnswerReaderTest, WhatIsNotUnderstoodIsSkipped) {
  expect_as_dom(R"({"x":{"choices":[{"delta":{"content":"hidden"}}],"usage":{"prompt_tokens":1}},"choices":[[{"delta":{}}],)"
                R"({"delta":{"content":"seen","extra":{"content":"no"}},"logprobs":{"content":[{"token":"a"}]}}]})");
}

TEST(OpenAiAnswerReaderTest, NotAnObjectTooDeepOrMalformedIsNothing) {
  for (const char* text : {"[]", "\"s\"", "12", "null", "", "{", R"({"a":1} x)", R"({"a":})", R"({"a":1e400})"}) {
    EXPECT_FALSE(read_answer_chunk(text, "delta")) << text;
  }
  std::string deep = R"({"a":)" + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_FALSE(read_answer_chunk(deep, "delta", 64));
  EXPECT_TRUE(read_answer_chunk(deep, "delta", 128));
}

// Random documents from the keys the reader knows: mostly of the type each key should have, sometimes of
// any other, at any depth.
class RandomDocument {
 public:
  explicit RandomDocument(std::uint64_t seed) : random_(seed) {}

  json object(int depth) {
    json out = json::object();
    for (std::size_t n = pick(6); n > 0; --n) {
      std::string key = kKeys[pick(std::size(kKeys))];
      out[key] = pick(4) == 0 ? any(depth) : typical(key, depth);
    }
    return out;
  }

 private:
  static constexpr const char* kKeys[] = {"choices", "usage", "error", "index", "delta", "message", "text", "finish_reason",
                                          "content", "tool_calls", "id", "function", "name", "arguments", "prompt_tokens",
                                          "completion_tokens", "prompt_tokens_details", "cached_tokens", "other"};
  static constexpr const char* kWords[] = {"", "stop", "a\"b", "x\u00e9", "{\"a\":1}"};

  json typical(const std::string& key, int depth) {
    if (depth > 4) return any(depth);
    if (key == "choices" || key == "tool_calls") {
      json out = json::array();
      for (std::size_t n = pick(4); n > 0; --n) out.push_back(pick(5) == 0 ? any(depth + 1) : object(depth + 1));
      return out;
    }
    for (const char* object_key : {"delta", "message", "usage", "error", "function", "prompt_tokens_details"}) {
      if (key == object_key) return object(depth + 1);
    }
    for (const char* integer_key : {"index", "prompt_tokens", "completion_tokens", "cached_tokens"}) {
      if (key == integer_key) return static_cast<std::int64_t>(pick(6)) - 1;
    }
    return std::string(kWords[pick(std::size(kWords))]);
  }

  json any(int depth) {
    switch (pick(depth > 4 ? 5 : 7)) {
      case 0: return nullptr;
      case 1: return pick(2) == 0;
      case 2: return static_cast<std::int64_t>(pick(2000)) - 1000;
      case 3: return 2.5;
      case 4: return std::string(kWords[pick(std::size(kWords))]);
      case 5: return object(depth + 1);
      default: return json::array({any(depth + 1), object(depth + 1)});
    }
  }

  std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(random_); }

  std::mt19937_64 random_;
};

TEST(OpenAiAnswerReaderTest, AgreesWithTheDomOnRandomDocuments) {
  RandomDocument documents(20261205);
  for (int i = 0; i < 3000; ++i) {
    std::string text = documents.object(0).dump();
    expect_as_dom(text, i % 3 == 0 ? "delta" : i % 3 == 1 ? "message" : "");
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace mg
