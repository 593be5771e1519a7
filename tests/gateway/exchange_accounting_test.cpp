// The ledger's routes_tried column: written directly, it must be the bytes nlohmann's DOM writes for the
// same attempts (the oracle here), whatever the routes and messages hold.
#include "gateway/exchange_accounting.h"

#include <cctype>
#include <random>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace mg::gateway {
namespace {

using nlohmann::json;

std::string dom_routes_tried(const std::vector<AttemptRecord>& attempts) {
  json out = json::array();
  for (const AttemptRecord& attempt : attempts) {
    json entry = {{"route", attempt.route}, {"outcome", attempt.error ? to_string(attempt.error->failure) : "ok"}};
    if (attempt.error) entry["message"] = attempt.error->message;
    if (attempt.content_events > 0) entry["streamed"] = attempt.content_events;
    out.push_back(std::move(entry));
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

TEST(ExchangeAccountingTest, RoutesTriedAreTheBytesTheDomWrites) {
  const std::vector<std::string> texts = {"", "mock/m", "quote \" back \\ slash", std::string("nul \0 ctl \x1f", 12), "tab\tnew\nline",
                                          "日本語 😀", "bad \xff byte", "cut \xe6\x97"};
  const std::vector<FailureClass> failures = {FailureClass::transient, FailureClass::timeout, FailureClass::rate_limit,
                                              FailureClass::cancelled, FailureClass::permanent, FailureClass::unsupported};
  std::mt19937 random(7);
  auto pick = [&](const auto& from) { return from[random() % from.size()]; };
  EXPECT_EQ(routes_tried_json({}), "[]");
  for (int round = 0; round < 2000; ++round) {
    std::vector<AttemptRecord> attempts(random() % 4);
    for (AttemptRecord& attempt : attempts) {
      attempt.route = pick(texts);
      if (random() % 2) attempt.error = Error{502, pick(failures), "upstream_error", "code", {}, pick(texts), 0};
      attempt.content_events = random() % 3 == 0 ? static_cast<int>(random() % 50) : 0;
    }
    ASSERT_EQ(routes_tried_json(attempts), dom_routes_tried(attempts)) << "round " << round;
  }
}

// Ids are made of several digits per random draw: every position must still take every value.
TEST(ExchangeAccountingTest, RandomHexUsesEveryDigitAtEveryPosition) {
  constexpr std::size_t kLength = 40;  // two full draws and part of a third
  std::vector<std::set<char>> seen(kLength);
  std::set<std::string> ids;
  int repeats = 0;  // a digit equal to the one before: one time in 16 when digits are independent
  for (int i = 0; i < 2000; ++i) {
    std::string id = random_hex(kLength);
    ASSERT_EQ(id.size(), kLength);
    for (std::size_t at = 0; at < kLength; ++at) {
      ASSERT_TRUE(std::isxdigit(static_cast<unsigned char>(id[at])) && !std::isupper(static_cast<unsigned char>(id[at]))) << id;
      seen[at].insert(id[at]);
      if (at > 0 && id[at] == id[at - 1]) ++repeats;
    }
    ids.insert(std::move(id));
  }
  EXPECT_EQ(ids.size(), 2000u);
  EXPECT_LT(repeats, 2 * 2000 * (kLength - 1) / 16);
  for (std::size_t at = 0; at < kLength; ++at) EXPECT_EQ(seen[at].size(), 16u) << "position " << at;
}

}  // namespace
}  // namespace mg::gateway
