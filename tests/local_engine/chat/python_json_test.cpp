// python_json against Python itself: every expectation below is what CPython 3.11's
// json.dumps(json.loads(text), ensure_ascii=False) printed for the text (nullopt: JSONDecodeError).
#include "local_engine/chat/python_json.h"

#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>
#include <string>

#include "local_engine/chat/python_float.h"

namespace mg::engine {
namespace {

struct RoundTrip {
  std::string text;
  std::optional<std::string> python;
};

std::optional<std::string> reformatted(const std::string& text) {
  std::optional<PythonJsonValue> value = parse_python_json(text);
  if (!value) return std::nullopt;
  return dump_python_json(*value);
}

void expect_like_python(const std::vector<RoundTrip>& cases) {
  for (const RoundTrip& c : cases) {
    EXPECT_EQ(reformatted(c.text), c.python) << "json.loads of: " << c.text;
  }
}

TEST(ChatPythonJsonTest, IntegersStayAsWrittenExceptNegativeZero) {
  expect_like_python({{"22", "22"},
                      {" 22 ", "22"},
                      {"-0", "0"},
                      {"123456789012345678901234567890", "123456789012345678901234567890"}});
}

TEST(ChatPythonJsonTest, FloatsAreWrittenByRepr) {
  expect_like_python({{"-0.0", "-0.0"},
                      {"1.0", "1.0"},
                      {"1e5", "100000.0"},
                      {"1E+2", "100.0"},
                      {"1e16", "1e+16"},
                      {"1e15", "1000000000000000.0"},
                      {"0.0001", "0.0001"},
                      {"0.00001", "1e-05"},
                      {"1.5e300", "1.5e+300"},
                      {"5e-324", "5e-324"},
                      {"0.1", "0.1"},
                      {"3.14159", "3.14159"},
                      {"1.7976931348623157e308", "1.7976931348623157e+308"},
                      {"2.2250738585072014e-308", "2.2250738585072014e-308"},
                      {"12345678901234567.0", "1.2345678901234568e+16"},
                      {"100.0e-2", "1.0"},
                      {"0e0", "0.0"},
                      {"-0e0", "-0.0"}});
}

TEST(ChatPythonJsonTest, OutOfRangeFloatsBecomeInfinityOrZero) {
  expect_like_python({{"1e400", "Infinity"},
                      {"-1e400", "-Infinity"},
                      {"1e-400", "0.0"},
                      {"-1e-400", "-0.0"},
                      {"0.000000001e-320", "0.0"},
                      {"123e99999999999999999999", "Infinity"}});
}

TEST(ChatPythonJsonTest, FloatHelpersTakeOnlyJsonNumbers) {
  EXPECT_EQ(python_float_repr(python_float_from_literal("-2.50e-3")), "-0.0025");
  EXPECT_EQ(python_float_repr(python_float_from_literal("1e400")), "Infinity");
  EXPECT_THROW(python_float_from_literal("1.5x"), std::invalid_argument);
  EXPECT_THROW(python_float_from_literal(""), std::invalid_argument);
}

TEST(ChatPythonJsonTest, PythonsNonStandardWordsAreReadAndWritten) {
  expect_like_python({{"NaN", "NaN"},
                      {"-Infinity", "-Infinity"},
                      {"Infinity", "Infinity"},
                      {"true", "true"},
                      {"null", "null"},
                      {"[false, null]", "[false, null]"}});
}

TEST(ChatPythonJsonTest, StringsKeepNonAsciiRawAndEscapeControlCharacters) {
  expect_like_python({{R"("a\u00e9\ud83d\ude00\n\u0001\u007f/\/")", "\"a\xC3\xA9\xF0\x9F\x98\x80\\n\\u0001\x7f//\""},
                      {R"("\b\f\r\t\"\\")", R"("\b\f\r\t\"\\")"},
                      {"\"caf\xC3\xA9\"", "\"caf\xC3\xA9\""},
                      {R"("\u001F\u001f")", R"("\u001f\u001f")"}});
}

TEST(ChatPythonJsonTest, ObjectsKeepKeyOrderAndRepeatedKeysKeepTheirFirstPlace) {
  expect_like_python({{R"({"b":1,"a":[1,2,{}],"b":2})", R"({"b": 2, "a": [1, 2, {}]})"},
                      {"{\"a\" : [ true , false , null ] }", R"({"a": [true, false, null]})"},
                      {"[]", "[]"},
                      {"{}", "{}"},
                      {" \t\r\n{\"k\":\n\"v\"}\n", R"({"k": "v"})"}});
}

TEST(ChatPythonJsonTest, WhatPythonRefusesIsNotJson) {
  expect_like_python({{"[1,]", std::nullopt},
                      {"01", std::nullopt},
                      {"\"x", std::nullopt},
                      {"hello", std::nullopt},
                      {"", std::nullopt},
                      {" ", std::nullopt},
                      {"\"\t\"", std::nullopt},
                      {"1.", std::nullopt},
                      {".5", std::nullopt},
                      {"-", std::nullopt},
                      {"1e", std::nullopt},
                      {"{'a': 1}", std::nullopt},
                      {"{\"a\" 1}", std::nullopt},
                      {"[1] x", std::nullopt},
                      {"nul", std::nullopt},
                      {"\"\\x41\"", std::nullopt},
                      {"\"\\ud83d\\uZZZZ\"", std::nullopt},
                      {"\f1", std::nullopt}});
}

TEST(ChatPythonJsonTest, LoneSurrogatesAndDeepNestingAreRefusedLoudly) {
  EXPECT_THROW(parse_python_json(R"("\ud800")"), std::invalid_argument);
  EXPECT_THROW(parse_python_json(R"(["\udc00\ud83d"])"), std::invalid_argument);
  // A lone surrogate inside text that is not JSON anyway: Python's JSONDecodeError wins.
  EXPECT_EQ(parse_python_json(R"("\ud800)"), std::nullopt);

  const std::string deep = std::string(max_python_json_depth + 1, '[') + std::string(max_python_json_depth + 1, ']');
  EXPECT_THROW(parse_python_json(deep), std::invalid_argument);
  const std::string allowed = std::string(max_python_json_depth, '[') + std::string(max_python_json_depth, ']');
  EXPECT_EQ(reformatted(allowed), allowed);
}

TEST(ChatPythonJsonTest, BuiltValuesDumpLikePythonDicts) {
  const PythonJsonValue value = PythonJsonValue::object(
      {{"name", PythonJsonValue::string("f")},
       {"list", PythonJsonValue::array({PythonJsonValue::null(), PythonJsonValue::string("x\"y")})}});
  EXPECT_EQ(dump_python_json(value), R"({"name": "f", "list": [null, "x\"y"]})");
  ASSERT_NE(value.find("list"), nullptr);
  EXPECT_TRUE(value.find("list")->is_array());
  EXPECT_EQ(value.find("missing"), nullptr);
}

}  // namespace
}  // namespace mg::engine
