// append_json and append_json_number against their oracle, nlohmann's dump() (compact, ensure_ascii off,
// invalid UTF-8 replaced): the same text, byte for byte, for edge cases, random documents and random
// doubles of every magnitude.
#include "core/json_text.h"

#include <bit>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/json_samples.h"

namespace mg {
namespace {

using nlohmann::json;

std::string dumped(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string written(const json& value) {
  std::string text = "prefix ";  // appended to, not replaced
  append_json(text, value);
  return text.substr(7);
}

TEST(JsonTextTest, WritesWhatDumpWritesAtTheEdges) {
  constexpr double kMax = std::numeric_limits<double>::max();
  constexpr double kTiny = std::numeric_limits<double>::denorm_min();
  const std::vector<json> values = {
      nullptr, true, false, 0, -1, std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max(),
      std::numeric_limits<std::uint64_t>::max(), 0u, 0.0, -0.0, 1.0, -1.5, 0.1, 1e15, 1e16, 123456789012345.0, 1234567890123456.0,
      1e-4, 1e-5, 0.00012, 1.5e-7, 1e21, 1e22, kMax, -kMax, kTiny, std::numeric_limits<double>::min(), 3.141592653589793,
      std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
      "", "plain", "\"\\/\b\f\n\r\t", std::string("\0\x01\x1f\x7f", 4), "caf\xC3\xA9 \xE6\x97\xA5 \xF0\x9F\x98\x80",
      // invalid UTF-8: nlohmann's repairs
      "\xFF", "a\x80z", "\xC3", "\xC3(", "\xE6\x97", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xC0\x80", "ok\xE6\x97\xA5\xE6",
      json::array(), json::object(), json::array({1, "two", 3.0, nullptr, json::array({json::object()})}),
      json{{"b", 1}, {"a", {{"z", false}, {"y", json::array()}}}, {"", "empty key"}, {"\n\"", "escaped key"}, {"k\xFF", "bad key"}},
      json::binary({1, 2, 3}),
  };
  for (const json& value : values) EXPECT_EQ(written(value), dumped(value)) << "value: " << dumped(value);
}

TEST(JsonTextTest, WritesWhatDumpWritesForRandomDocuments) {
  std::mt19937 random(20261206);
  const std::vector<std::string> invalid = {"\xFF", "\x80", "\xC3", "\xE6\x97", "\xED\xA0\x80", "\xF8\x88\x80\x80\x80"};
  for (int i = 0; i < 20000; ++i) {
    json document = test::random_json(random);
    if (i % 4 == 0) document = json{{invalid[random() % invalid.size()], document}, {"s", "x" + invalid[random() % invalid.size()] + "y"}};
    ASSERT_EQ(written(document), dumped(document));
  }
}

TEST(JsonTextTest, WritesDoublesAsDumpDoesOverEveryMagnitude) {
  std::mt19937_64 random(20261206);
  for (int i = 0; i < 200000; ++i) {
    auto value = std::bit_cast<double>(random());  // every exponent and mantissa, NaN and infinities included
    if (i % 2 == 0) value = static_cast<double>(random() % 100000) / std::pow(10.0, static_cast<int>(random() % 12));  // prices, ratios
    std::string text;
    append_json_number(text, value);
    ASSERT_EQ(text, dumped(json(value))) << std::bit_cast<std::uint64_t>(value);
  }
}

}  // namespace
}  // namespace mg
