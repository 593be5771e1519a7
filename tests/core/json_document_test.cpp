// The gateway's JSON document reader (parse_json_document: simdjson On-Demand into nlohmann's DOM)
// against its oracle, nlohmann::json::parse: the same texts accepted, the same values (types included)
// built from them, for hand-picked edge cases of the grammar, for random documents, and for random damage
// done to them. Then its error messages and its heap budget.
#include "core/json_ondemand.h"
#include "formats/openai_wire.h"

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
  Result<json> ours = parse_json_document(text);
  if (text.find('\0') != std::string_view::npos) return ours ? "the reader accepts a NUL byte" : "";
  std::optional<json> theirs = oracle(text);
  if (ours.ok() != theirs.has_value()) {
    return ours ? "the reader accepts what nlohmann rejects" : "the reader rejects what nlohmann accepts: " + ours.error().message;
  }
  if (ours && !test::identical_json(*ours, *theirs)) return "different values: " + ours->dump() + " against " + theirs->dump();
  if (!ours && ours.error().message.empty()) return "a rejection without a reason";
  return {};
}

TEST(JsonDocumentTest, AgreesWithNlohmannOnTheGrammarsEdges) {
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
      // simdjson 3.0.1 alone misreads these (the numbers are read from their tokens)
      "0.40009074020526895765", "[-0.40009074020526895765]", "[12345678901234567890.5e-3]", "[1e00000000000000000001]",
      "7" + std::string(30, ' '), "1.5" + std::string(1100, ' '), "[1e-400]", "-1e-400", "[-0]",
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

TEST(JsonDocumentTest, AgreesWithNlohmannOnRandomDocumentsAndTheirDamage) {
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
    ++(parse_json_document(damaged) ? damaged_accepted : damaged_rejected);
  }
  EXPECT_GT(damaged_accepted, 1000);  // both sides of the line were tried
  EXPECT_GT(damaged_rejected, 1000);
}

std::string rejection(std::string_view text) {
  Result<json> document = parse_json_document(text);
  return document ? "accepted" : document.error().message;
}

TEST(JsonDocumentTest, SaysWhereAndWhyTheTextStopsBeingJson) {
  EXPECT_EQ(rejection("{\"a\": \"x\xC3(\"}"), "request body is not valid JSON: a string is not valid UTF-8");
  EXPECT_EQ(rejection(R"({"a": 1} x)"), "request body is not valid JSON: there are bytes after the JSON value (near byte 9)");
  EXPECT_EQ(rejection(R"([1e999])"), "request body is not valid JSON: a number is malformed or out of range (near byte 1)");
  EXPECT_EQ(rejection(R"({"a": "\ud800"})").find("request body is not valid JSON: a string has an invalid escape or control character"), 0u);
  EXPECT_EQ(rejection(""), "request body is not valid JSON: it is empty");
  EXPECT_EQ(parse_json_document(R"({"a": [1, 2,, 3]})").error().code, "invalid_json");
}

// The DOM's heap is counted as it is built: an array by its vector's capacity (doubling), an object by
// its map's nodes. Past the budget the reading stops with 413 and the document is never whole.
TEST(JsonDocumentTest, TheHeapBudgetCountsWhatTheDomHoldsAndStopsAtIt) {
  using ondemand::HeapCost;
  std::string zeros = "[0";
  for (int i = 1; i < 1000; ++i) zeros += ",0";
  zeros += "]";
  std::size_t bytes = 0;
  Result<json> whole = parse_json_document(zeros, {}, &bytes);
  ASSERT_TRUE(whole);
  EXPECT_EQ(*whole, json::parse(zeros));
  // 1,000 elements in a vector of capacity 1,024, of 16-byte values, and the vector itself.
  EXPECT_EQ(bytes, 1024 * sizeof(json) + HeapCost::dom_array());

  JsonLimits tight;
  tight.max_parsed_bytes = 8 * 1024;
  Result<json> over = parse_json_document(zeros, tight, &bytes);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().http_status, 413);
  EXPECT_EQ(over.error().code, "request_too_complex");
  EXPECT_LE(bytes, 8 * 1024 + sizeof(json) * 512) << "stops at the growth that would pass the budget";

  std::string objects = R"([{"role":"user","content":""},{"role":"user","content":""}])";
  ASSERT_TRUE(parse_json_document(objects, {}, &bytes));
  // Two maps, each of two members, each member's string value; the array of capacity 2.
  EXPECT_EQ(bytes, HeapCost::dom_array() + 2 * sizeof(json) +
                       2 * (HeapCost::dom_object() + 2 * HeapCost::dom_member(4) + 2 * HeapCost::dom_string(0)));
}

TEST(JsonDocumentTest, ReadsAnyRootAndSkipsAByteOrderMark) {
  EXPECT_EQ(parse_json_document("\xEF\xBB\xBF{\"a\":1}").value(), json({{"a", 1}}));
  EXPECT_EQ(parse_json_document(" 42 ").value(), json(42));
  EXPECT_EQ(parse_json_document("\"x\"").value(), json("x"));
  EXPECT_EQ(parse_json_document("null").value(), json(nullptr));
  EXPECT_FALSE(parse_json_document("42 43"));
  EXPECT_FALSE(parse_json_document("nul"));
}

}  // namespace
}  // namespace mg
