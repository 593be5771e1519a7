// read_json against its oracle, nlohmann::json::parse: the same texts accepted, the same values (types
// included) built from them, for hand-picked edge cases of the grammar, for random documents, and for
// random damage done to them.
#include "core/json_reader.h"

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/json_samples.h"

namespace mg {
namespace {

using nlohmann::json;

std::optional<json> oracle(std::string_view text) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

// Empty when the reader agrees with the oracle; else what differs. The one difference by design: a NUL
// byte, never JSON, ends nlohmann's input where it stands (so '{}' NUL 'junk' passes there), and is
// rejected by the reader.
std::string disagreement(std::string_view text) {
  JsonSyntaxError error;
  std::optional<json> ours = read_json_document(text, error);
  if (text.find('\0') != std::string_view::npos) return ours ? "the reader accepts a NUL byte" : "";
  std::optional<json> theirs = oracle(text);
  if (ours.has_value() != theirs.has_value()) {
    return ours ? "the reader accepts what nlohmann rejects" : "the reader rejects what nlohmann accepts: " + error.what;
  }
  if (ours && !test::identical_json(*ours, *theirs)) return "different values: " + ours->dump() + " against " + theirs->dump();
  if (!ours && error.what.empty()) return "a rejection without a reason";
  return {};
}

TEST(JsonReaderTest, AgreesWithNlohmannOnTheGrammarsEdges) {
  const std::vector<std::string> texts = {
      // values and the space around them
      "{}", "[]", " \t\r\n{ } \n", "0", "\"\"", "true", "false", "null", "[true,false,null]", "{\"a\":{\"b\":[[],{}]}}",
      "", " ", "{", "}", "[", "[1,]", "{\"a\":1,}", "[1 2]", "{\"a\" 1}", "{\"a\":}", "{1:2}", "{\"a\":1}}", "[]]", "{} {}",
      "tru", "truex", "nul", "nulll", "True", "[true false]", "{\"a\":1\"b\":2}", "\v{}", "{}\f", "/* c */{}", "{}//",
      std::string("{\"a\":1}\0", 8), std::string("\0", 1), "\xEF\xBB\xBF{}", "\xEF\xBB{}", "\xEF\xBB\xBF", " \xEF\xBB\xBF{}",
      // numbers
      "-0", "-0.0", "0.0", "1.5", "-1.5e3", "1E+2", "1e-2", "0e5", "01", "-01", "1.", ".5", "-", "+1", "1e", "1e+", "--1",
      "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
      "18446744073709551615", "18446744073709551616", "123456789012345678901234567890", "1e308", "1e309", "-1e400",
      "1e-400", "2.2250738585072014e-308", "4.9e-324", "0.1", "3.141592653589793238462643383279", "[1e400]", "1x", "0x10",
      // strings: escapes
      R"("\"\\\/\b\f\n\r\t")", R"("\u0000")", R"("\u00e9\u4e2D")", R"("\ud83d\ude00")", R"("\uD83D\uDE00x")", R"("\ud800")",
      R"("\udc00")", R"("\ud800\u0041")", R"("\ud800\ud800")", R"("\ud800x")", R"("\u12")", R"("\u12g4")", R"("\u+123")",
      R"("\u-123")", R"("\x41")", R"("\a")", R"("\)", R"("abc)", "\"a\\", R"("\U0041")",
      // strings: raw bytes
      "\"\x01\"", "\"\x1f\"", "\"\x7f\"", "\"\t\"", "\"\n\"", "\"caf\xC3\xA9\"", "\"\xE6\x97\xA5\"", "\"\xF0\x9F\x98\x80\"",
      "\"\xC0\x80\"", "\"\xC1\xBF\"", "\"\xC2\x80\"", "\"\xE0\x80\x80\"", "\"\xE0\xA0\x80\"", "\"\xED\x9F\xBF\"", "\"\xED\xA0\x80\"",
      "\"\xEF\xBF\xBF\"", "\"\xF0\x8F\xBF\xBF\"", "\"\xF0\x90\x80\x80\"", "\"\xF4\x8F\xBF\xBF\"", "\"\xF4\x90\x80\x80\"",
      "\"\xF5\x80\x80\x80\"", "\"\xFF\"", "\"\x80\"", "\"\xC3\"", "\"\xE6\x97\"", "\"\xC3\x28\"", "\"\xE6\x28\xA5\"",
      // objects: duplicate keys (the last wins), keys that need decoding, deep and wide
      R"({"a":1,"a":2})", R"({"a":{"x":1},"a":[2]})", R"({"\u0061":1,"a":2})", R"({"":0})", R"([[[[[[[[[[[[1]]]]]]]]]]]])",
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.7,"max_tokens":16,"stream":true})",
  };
  for (const std::string& text : texts) EXPECT_EQ(disagreement(text), "") << "text: " << json(text).dump(-1, ' ', true, json::error_handler_t::replace);
}

// nlohmann writes \u escapes only for control characters; these spellings cover the rest of the grammar.
std::string respelled(std::string text, std::mt19937& random) {
  static const std::vector<std::pair<std::string, std::string>> spellings = {
      {"é", "\\u00e9"}, {"日", "\\u65E5"}, {"😀", "\\ud83d\\ude00"}, {"/", "\\/"}, {",", " ,\n"}, {":", "\t: "}, {"a", "\\u0061"}};
  for (const auto& [from, to] : spellings) {
    for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + 1)) {
      if (random() % 2 == 0) text.replace(at, from.size(), to);
    }
  }
  return text;
}

TEST(JsonReaderTest, AgreesWithNlohmannOnRandomDocumentsAndTheirDamage) {
  std::mt19937 random(20261206);
  const std::string damage_bytes = std::string("{}[]\",:\\0123456789.-+eEtrufalsn \t\x01\x80\xC3\xED\xF4\xFF") + '\0';
  int damaged_accepted = 0;
  int damaged_rejected = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text = respelled(test::random_json(random).dump(), random);
    ASSERT_EQ(disagreement(text), "") << text;
    std::string damaged = text;
    std::size_t at = random() % (damaged.size() + 1);
    switch (random() % 3) {
      case 0: damaged.insert(at, 1, damage_bytes[random() % damage_bytes.size()]); break;
      case 1: damaged = damaged.substr(0, at); break;
      default:
        if (at < damaged.size()) damaged[at] = damage_bytes[random() % damage_bytes.size()];
    }
    ASSERT_EQ(disagreement(damaged), "") << damaged;
    JsonSyntaxError ignored;
    ++(read_json_document(damaged, ignored) ? damaged_accepted : damaged_rejected);
  }
  EXPECT_GT(damaged_accepted, 1000);  // both sides of the line were tried
  EXPECT_GT(damaged_rejected, 1000);
}

TEST(JsonReaderTest, SaysWhereAndWhyTheTextStopsBeingJson) {
  JsonSyntaxError error;
  EXPECT_FALSE(read_json_document(R"({"a": [1, 2,, 3]})", error));
  EXPECT_EQ(error.offset, 12u);
  EXPECT_EQ(error.what, "expected a JSON value");
  EXPECT_FALSE(read_json_document("{\"a\": \"x\xC3(\"}", error));
  EXPECT_EQ(error.offset, 8u);
  EXPECT_EQ(error.what, "invalid UTF-8 in a string");
  EXPECT_FALSE(read_json_document(R"({"a": 1} x)", error));
  EXPECT_EQ(error.offset, 9u);
  EXPECT_EQ(error.what, "unexpected text after the JSON value");
  EXPECT_FALSE(read_json_document(R"([1e999])", error));
  EXPECT_EQ(error.offset, 1u);
  EXPECT_EQ(error.what, "a number too large for a double");
  EXPECT_FALSE(read_json_document(R"({"a": "\ud800"})", error));
  EXPECT_EQ(error.what, "a high surrogate escape without a low one after it");
}

// The DOM's heap is counted as it is built: an array by its vector's capacity (doubling), an object by
// its map's nodes. Past the budget the reading stops, says so, and the document is never whole.
TEST(JsonReaderTest, TheDomBudgetCountsWhatTheDomHoldsAndStopsAtIt) {
  std::string zeros = "[0";
  for (int i = 1; i < 1000; ++i) zeros += ",0";
  zeros += "]";
  JsonSyntaxError error;
  std::size_t bytes = 0;
  std::optional<json> whole = read_json_document(zeros, error, SIZE_MAX, &bytes);
  ASSERT_TRUE(whole);
  EXPECT_EQ(*whole, json::parse(zeros));
  // 1,000 elements in a vector of capacity 1,024, of 16-byte values, and the vector itself.
  EXPECT_EQ(bytes, 1024 * sizeof(json) + DomCost::array());
  EXPECT_FALSE(error.over_budget);

  EXPECT_FALSE(read_json_document(zeros, error, 8 * 1024, &bytes));
  EXPECT_TRUE(error.over_budget);
  EXPECT_LE(bytes, 8 * 1024 + sizeof(json) * 512) << "stops at the growth that would pass the budget";

  std::string objects = R"([{"role":"user","content":""},{"role":"user","content":""}])";
  ASSERT_TRUE(read_json_document(objects, error, SIZE_MAX, &bytes));
  // Two maps, each of two members, each member's string value; the array of capacity 2.
  EXPECT_EQ(bytes, DomCost::array() + 2 * sizeof(json) + 2 * (DomCost::object() + 2 * DomCost::object_member(4) + 2 * DomCost::string(0)));
}

// A handler that stops at its first string: the reading stops there and says it was not the text.
struct StopAtString {
  int events = 0;
  bool null() { return ++events > 0; }
  bool boolean(bool) { return ++events > 0; }
  bool number_integer(std::int64_t) { return ++events > 0; }
  bool number_unsigned(std::uint64_t) { return ++events > 0; }
  bool number_float(double) { return ++events > 0; }
  bool string(std::string&) { return false; }
  bool key(std::string&) { return ++events > 0; }
  bool start_object() { return ++events > 0; }
  bool end_object() { return ++events > 0; }
  bool start_array() { return ++events > 0; }
  bool end_array() { return ++events > 0; }
};

TEST(JsonReaderTest, AHandlerCanStopTheReading) {
  StopAtString handler;
  JsonSyntaxError error;
  EXPECT_FALSE(read_json(R"([1, null, "stop", 2, 3])", handler, &error));
  EXPECT_EQ(handler.events, 3);  // the array's start, 1 and null
  EXPECT_EQ(error.what, "");
  EXPECT_EQ(error.offset, 16u);
}

}  // namespace
}  // namespace mg
