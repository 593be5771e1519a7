#include "local_engine/sampling/json_grammar.h"

#include <cmath>
#include <random>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "local_engine/tokenizer/gguf_vocabulary.h"
#include "tests/support/json_schema_oracle.h"

namespace mg::engine {
namespace {

using nlohmann::json;

// Kept as text: its properties are written in this order (a json object would sort them).
const char* const kPersonSchemaText = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 12},
    "age": {"type": "integer"},
    "score": {"type": "number"},
    "tags": {"type": "array", "items": {"enum": ["red", "green", 7, null]}, "minItems": 1, "maxItems": 3},
    "active": {"type": "boolean"},
    "nickname": {"type": ["string", "null"], "maxLength": 5},
    "address": {"type": "object", "properties": {"city": {"const": "Paris"}, "zip": {"type": "string"}}, "required": ["city"]},
    "extra": {}
  },
  "required": ["name", "age"],
  "additionalProperties": false
})";
const json kPersonSchema = json::parse(kPersonSchemaText);

bool accepts(const JsonGrammar& grammar, std::string_view text) {
  JsonMatcher matcher(grammar);
  return matcher.feed(text) && matcher.complete();
}

// Bytes picked at random among those the grammar allows, until the value is whole (stopping at random
// where it may go on, as a top-level number may).
std::string random_walk(const JsonGrammar& grammar, std::mt19937& random) {
  JsonMatcher matcher(grammar);
  std::string text;
  while (!matcher.finished()) {
    if (matcher.complete() && random() % 4 == 0) break;
    std::vector<unsigned char> allowed;
    for (int c = 0; c < 256; ++c) {
      JsonMatcher probe = matcher;
      if (probe.feed(static_cast<unsigned char>(c))) allowed.push_back(static_cast<unsigned char>(c));
    }
    if (allowed.empty()) {
      EXPECT_TRUE(matcher.complete()) << "a dead end after " << text;
      break;
    }
    unsigned char c = allowed[random() % allowed.size()];
    matcher.feed(c);
    text += static_cast<char>(c);
  }
  return text;
}

void expect_all_valid(const json& schema, const std::vector<std::string>& texts) {
  std::vector<std::string> verdicts = test::judge_against_schema(MODELGATE_SOURCE_DIR, schema, texts);
  ASSERT_EQ(verdicts.size(), texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(verdicts[i], "ok") << texts[i];
}

TEST(JsonGrammarTest, TakesWhatTheSchemaAllowsAndNothingElse) {
  auto grammar = JsonGrammar::from_schema(kPersonSchemaText);
  const std::string valid =
      R"({"name":"Ana","age":-12,"score":3.5e+2,"tags":["red",7],"active":true,"nickname":null,"address":{"city":"Paris","zip":"75"},"extra":[1,{"a":"b"}]})";
  EXPECT_TRUE(accepts(*grammar, valid));
  for (const char* invalid : {
           R"({"age":1,"name":"Ana")",                        // properties in another order
           R"({"name":"","age":1)",                           // minLength
           R"({"name":"Anastasia-Maria","age":1)",            // maxLength
           R"({"name":"Ana","age":1.5)",                      // an integer with a fraction
           R"({"name":"Ana","age":01)",                       // a leading zero
           R"({"name":"Ana","age":1,"score":1,"tags":[])",    // minItems
           R"({"name":"Ana","age":1,"score":1,"tags":["blue"])",  // not in the enum
           R"({ "name":"Ana")",                               // whitespace outside strings
           R"({"name":"A\"na")",                              // escapes are never written
       }) {
    JsonMatcher matcher(*grammar);
    EXPECT_FALSE(matcher.feed(std::string_view(invalid))) << invalid;
  }
  JsonMatcher unfinished(*grammar);
  ASSERT_TRUE(unfinished.feed(std::string_view(R"({"name":"Ana","age":12)")));
  EXPECT_FALSE(unfinished.complete());
}

// Every output the grammar lets through, picked at random byte by byte, is valid JSON that Python's
// jsonschema finds valid against the schema.
TEST(JsonGrammarTest, RandomWalksThroughTheGrammarAreValidAgainstTheSchema) {
  const std::vector<json> schemas = {
      kPersonSchema,  // its properties sorted: the grammar follows whatever order it is given
      json::parse(R"({"type": "array", "items": {"type": "number"}, "maxItems": 4})"),
      json::parse(R"({"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 3}, {"type": "object", "properties": {}}]})"),
      json::parse(R"({"type": "object"})"),
  };
  std::mt19937 random(11);
  for (const json& schema : schemas) {
    auto grammar = JsonGrammar::from_schema(schema.dump());
    std::vector<std::string> texts;
    for (int i = 0; i < 100; ++i) texts.push_back(random_walk(*grammar, random));
    for (const std::string& text : texts) EXPECT_NO_THROW((void)json::parse(text)) << text;
    expect_all_valid(schema, texts);
  }
  auto object = JsonGrammar::any_object();
  std::vector<std::string> texts;
  for (int i = 0; i < 100; ++i) texts.push_back(random_walk(*object, random));
  expect_all_valid(json{{"type", "object"}}, texts);
}

// A Mistral call list over tools whose names share prefixes (one is a prefix of another): every random
// walk is a list of calls to those tools with arguments valid for the tool named.
TEST(JsonGrammarTest, ToolCallListsNameAToolAndMatchItsParameters) {
  const std::vector<JsonGrammar::ToolSchema> tools = {
      {"get_weather", R"({"type":"object","properties":{"city":{"type":"string","maxLength":8},"days":{"type":"integer"}},"required":["city"]})"},
      {"get_time", R"({"type":"object","properties":{"zone":{"enum":["UTC","CET"]}}})"},
      {"get", ""},
      {"search", R"({"type":"object","properties":{"q":{"type":"string"}}})"},
  };
  json one_of = json::array();
  for (const auto& tool : tools) {
    json arguments = tool.parameters.empty() ? json{{"type", "object"}} : json::parse(tool.parameters);
    one_of.push_back({{"type", "object"}, {"properties", {{"name", {{"const", tool.name}}}, {"arguments", arguments}}},
                      {"required", {"name", "arguments"}}, {"additionalProperties", false}});
  }
  const json schema = {{"type", "array"}, {"minItems", 1}, {"maxItems", 2}, {"items", {{"oneOf", one_of}}}};
  auto grammar = JsonGrammar::tool_calls(tools, 2);
  std::mt19937 random(3);
  std::vector<std::string> texts;
  std::set<std::string> names;
  for (int i = 0; i < 200; ++i) {
    texts.push_back(random_walk(*grammar, random));
    for (const json& call : json::parse(texts.back())) names.insert(call["name"].get<std::string>());
  }
  expect_all_valid(schema, texts);
  EXPECT_EQ(names.size(), tools.size()) << "every tool is reachable";
  EXPECT_FALSE(accepts(*grammar, R"([{"name":"get_wea","arguments":{}}])"));
  EXPECT_TRUE(accepts(*grammar, R"([{"name":"get","arguments":{"x":[1]}}])"));
}

TEST(JsonGrammarTest, RefusesWhatItCannotEnforceNamingIt) {
  for (auto [schema, named] : std::vector<std::pair<const char*, const char*>>{
           {R"({"type": "integer", "minimum": 3})", "minimum"},
           {R"({"type": "string", "pattern": "a+"})", "pattern"},
           {R"({"$ref": "#/defs/a"})", "$ref"},
           {R"({"anyOf": [{"type": "object"}, {"type": "object", "properties": {}}]})", "begin with different characters"},
           {R"({"type": "string", "minLength": 5, "maxLength": 2})", "maxLength is below minLength"},
           {R"({"type": "wat"})", "unknown type"},
           {R"(not json)", "not valid JSON"},
       }) {
    try {
      (void)JsonGrammar::from_schema(schema);
      ADD_FAILURE() << schema << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(named), std::string::npos) << e.what();
    }
  }
}

// Over a real vocabulary (Mistral v3's 32768 pieces): tokens drawn at random among those the constraint
// leaves, decoded as the engine decodes an answer, give schema-valid JSON; the end is allowed only when
// the value is whole.
TEST(JsonConstraintTest, RandomTokensThroughTheMaskDecodeToValidJson) {
  auto vocabulary = read_sentencepiece_model(std::filesystem::path(MODELGATE_SOURCE_DIR) / "tests/local_engine/data/mistral_tokenizer/mistral_instruct_tokenizer_240323.model.v3");
  SentencePieceTokenizer tokenizer(vocabulary);
  auto trie = std::make_shared<const TokenTrie>(tokenizer);
  auto grammar = JsonGrammar::from_schema(kPersonSchemaText);
  std::mt19937 random(5);
  std::vector<std::string> texts;
  for (int run = 0; run < 10; ++run) {
    JsonConstraint constraint(grammar, trie, tokenizer);
    std::vector<std::int32_t> ids;
    std::vector<float> logits(static_cast<std::size_t>(tokenizer.vocab_size()));
    while (true) {
      std::fill(logits.begin(), logits.end(), 0.0f);
      if (!constraint.mask(logits)) break;
      std::vector<std::int32_t> allowed;
      for (std::size_t id = 0; id < logits.size(); ++id) {
        if (!std::isinf(logits[id])) allowed.push_back(static_cast<std::int32_t>(id));
      }
      ASSERT_FALSE(allowed.empty());
      std::int32_t token = allowed[random() % allowed.size()];
      if (token == tokenizer.eos_id()) break;
      constraint.accept(token);
      ids.push_back(token);
      ASSERT_LT(ids.size(), 2000u);
    }
    texts.push_back(tokenizer.decode(ids));
  }
  expect_all_valid(kPersonSchema, texts);
}

}  // namespace
}  // namespace mg::engine
