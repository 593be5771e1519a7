// Client API keys without sockets: the key's shape and digest, and every admission outcome of
// AccessControl (401, 403, 429 with Retry-After, 402), its budget windows and its reservations.
#include "gateway/access_control.h"

#include <gtest/gtest.h>

#include "gateway/api_key_secrets.h"

namespace mg::gateway {
namespace {

constexpr std::int64_t kNoon = 1'796'472'000'000;  // 2026-12-05T12:00:00Z
constexpr std::int64_t kMinute = 60'000;

struct Key {
  GeneratedApiKey generated = generate_api_key();
  pricing::ApiKeyRecord record() const {
    pricing::ApiKeyRecord record;
    record.id = generated.id;
    record.secret_sha256 = generated.secret_sha256;
    record.created_at_ms = kNoon;
    return record;
  }
  std::string header() const { return "Bearer " + generated.key; }
};

AccessControl with_key(const pricing::ApiKeyRecord& record, std::map<std::string, pricing::KeySpend> spent = {}) {
  return AccessControl({record}, std::move(spent), kNoon);
}

// Authenticates and admits in one go, as the API does.
Result<AccessGrant> ask(AccessControl& access, const std::string& header, AccessRequest request) {
  Result<AccessControl::KeyRef> key = access.authenticate(header);
  if (!key) return key.error();
  return access.admit(*key, request);
}

AccessRequest costing(double usd, std::int64_t now_ms = kNoon) { return AccessRequest{{"echo"}, usd, now_ms}; }

TEST(ApiKeySecretsTest, KeysCarryTheirIdAndOnlyTheirDigestIsKept) {
  GeneratedApiKey key = generate_api_key();
  EXPECT_TRUE(key.key.starts_with("mgk_")) << key.key;
  EXPECT_EQ(key.key.size(), 4u + 12u + 1u + 48u);
  EXPECT_EQ(api_key_id_of(key.key), key.id);
  EXPECT_EQ(key.secret_sha256, sha256_hex(key.key));
  EXPECT_EQ(key.secret_sha256.find(key.key.substr(17)), std::string::npos);
  EXPECT_TRUE(api_key_matches(key.key, key.secret_sha256));
  std::string tampered = key.key;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  EXPECT_FALSE(api_key_matches(tampered, key.secret_sha256));
  EXPECT_NE(generate_api_key().key, key.key);
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // FIPS 180-2's example
}

TEST(ApiKeySecretsTest, OnlyWellFormedBearerTokensAreRead) {
  EXPECT_EQ(bearer_token("Bearer abc"), "abc");
  EXPECT_EQ(bearer_token("bearer   abc  "), "abc");
  EXPECT_EQ(bearer_token("Basic abc"), std::nullopt);
  EXPECT_EQ(bearer_token("Bearer "), std::nullopt);
  EXPECT_EQ(bearer_token(""), std::nullopt);
  EXPECT_EQ(api_key_id_of("sk-not-ours"), std::nullopt);
  EXPECT_EQ(api_key_id_of("mgk_XYZ123456789_" + std::string(48, 'a')), std::nullopt);  // the id must be lowercase hex
}

TEST(AccessControlTest, WithoutKeysEveryoneIsAdmittedWithoutAKeyId) {
  AccessControl access({}, {}, kNoon);
  EXPECT_FALSE(access.auth_required());
  Result<AccessGrant> grant = ask(access, "", costing(1));
  ASSERT_TRUE(grant);
  EXPECT_EQ(grant->key_id(), "");
}

TEST(AccessControlTest, AMissingMalformedOrWrongKeyIs401) {
  Key key;
  AccessControl access = with_key(key.record());
  for (const std::string& header : {std::string(), std::string("Bearer sk-something"), "Bearer " + generate_api_key().key,
                                    "Bearer " + key.generated.key.substr(0, key.generated.key.size() - 1) + "x", std::string("Basic abc")}) {
    Result<AccessGrant> refused = ask(access, header, costing(0));
    ASSERT_FALSE(refused) << header;
    EXPECT_EQ(refused.error().http_status, 401) << header;
    EXPECT_EQ(refused.error().code, "invalid_api_key");
  }
  EXPECT_TRUE(ask(access, key.header(), costing(0)));
}

TEST(AccessControlTest, ARevokedKeyIs403AndSoIsAModelTheKeyMayNotUse) {
  Key key;
  pricing::ApiKeyRecord record = key.record();
  record.limits.allowed_models = {"echo"};
  AccessControl access = with_key(record);
  Result<AccessGrant> other_model = ask(access, key.header(), AccessRequest{{"echo", "slow"}, 0, kNoon});
  ASSERT_FALSE(other_model);
  EXPECT_EQ(other_model.error().http_status, 403);
  EXPECT_EQ(other_model.error().code, "model_not_allowed");
  EXPECT_NE(other_model.error().message.find("'slow'"), std::string::npos);

  record.revoked_at_ms = kNoon;
  access.replace_keys({record});
  EXPECT_TRUE(access.auth_required());  // revoking the last key does not open the gateway
  Result<AccessGrant> revoked = ask(access, key.header(), costing(0));
  ASSERT_FALSE(revoked);
  EXPECT_EQ(revoked.error().http_status, 403);
  EXPECT_EQ(revoked.error().code, "api_key_revoked");
}

TEST(AccessControlTest, RequestsPerMinuteRefillOverTheMinuteAndSayWhenToRetry) {
  Key key;
  pricing::ApiKeyRecord record = key.record();
  record.limits.requests_per_minute = 3;
  AccessControl access = with_key(record);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(ask(access, key.header(), costing(0)));
  Result<AccessGrant> refused = ask(access, key.header(), costing(0));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().http_status, 429);
  EXPECT_EQ(refused.error().code, "rate_limit_exceeded");
  EXPECT_EQ(refused.error().retry_after_s, 20);  // one request refills in 60 s / 3
  EXPECT_FALSE(ask(access, key.header(), costing(0, kNoon + 19'000)));
  EXPECT_TRUE(ask(access, key.header(), costing(0, kNoon + 20'000)));
}

TEST(AccessControlTest, TokensPerMinuteCountWhatRequestsUsedWhenTheyEnd) {
  Key key;
  pricing::ApiKeyRecord record = key.record();
  record.limits.tokens_per_minute = 600;
  AccessControl access = with_key(record);
  Result<AccessGrant> first = ask(access, key.header(), costing(0));
  ASSERT_TRUE(first);
  first->settle(0, 900, kNoon);  // 300 tokens past the minute's allowance
  Result<AccessGrant> refused = ask(access, key.header(), costing(0, kNoon + 1));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().http_status, 429);
  EXPECT_EQ(refused.error().retry_after_s, 30);  // 300 tokens at 10 a second
  EXPECT_TRUE(ask(access, key.header(), costing(0, kNoon + 30'500)));
}

TEST(AccessControlTest, ASpentBudgetIs402InEachOfItsWindows) {
  Key key;
  pricing::ApiKeyRecord record = key.record();
  record.limits.budget_usd_day = 1.0;
  record.limits.budget_usd_total = 5.0;
  AccessControl access = with_key(record, {{record.id, pricing::KeySpend{1.0, 4.0, 4.5}}});
  Result<AccessGrant> today = ask(access, key.header(), costing(0.1));
  ASSERT_FALSE(today);
  EXPECT_EQ(today.error().http_status, 402);
  EXPECT_EQ(today.error().code, "budget_exceeded");
  EXPECT_NE(today.error().message.find("daily budget"), std::string::npos) << today.error().message;

  const std::int64_t tomorrow = kNoon + 24 * 60 * kMinute;  // a new day's budget, the same total
  Result<AccessGrant> next_day = ask(access, key.header(), costing(0.1, tomorrow));
  ASSERT_TRUE(next_day);
  next_day->settle(0.6, 10, tomorrow);
  Result<AccessGrant> total = ask(access, key.header(), costing(0.1, tomorrow));
  ASSERT_FALSE(total);
  EXPECT_EQ(total.error().http_status, 402);
  EXPECT_NE(total.error().message.find("total budget"), std::string::npos) << total.error().message;
}

TEST(AccessControlTest, RequestsInFlightHoldTheirWorstCaseAndGiveBackWhatTheyDidNotSpend) {
  Key key;
  pricing::ApiKeyRecord record = key.record();
  record.limits.budget_usd_total = 1.0;
  AccessControl access = with_key(record);
  Result<AccessGrant> first = ask(access, key.header(), costing(0.6));
  ASSERT_TRUE(first);
  Result<AccessGrant> held = ask(access, key.header(), costing(0.6));
  ASSERT_FALSE(held);
  EXPECT_EQ(held.error().http_status, 429);
  EXPECT_EQ(held.error().code, "budget_held_by_requests_in_flight");
  EXPECT_EQ(held.error().retry_after_s, 1);
  EXPECT_TRUE(ask(access, key.header(), costing(0.3)));  // fits beside the first; dropped unsettled, it gives its hold back
  first->settle(0.2, 10, kNoon);
  Result<AccessGrant> after = ask(access, key.header(), costing(0.6));
  ASSERT_TRUE(after);
  std::vector<KeyStatus> status = access.status(kNoon);
  ASSERT_EQ(status.size(), 1u);
  EXPECT_DOUBLE_EQ(status[0].spent.total_usd, 0.2);
  EXPECT_DOUBLE_EQ(status[0].reserved_usd, 0.6);
  EXPECT_EQ(status[0].in_flight, 1);
  EXPECT_TRUE(status[0].record.secret_sha256.empty());
}

TEST(AccessControlTest, ALoneRequestIsAdmittedWhateverItsWorstCaseWhileBudgetIsLeft) {
  Key key;
  pricing::ApiKeyRecord record = key.record();
  record.limits.budget_usd_total = 1.0;
  AccessControl access = with_key(record);
  EXPECT_TRUE(ask(access, key.header(), costing(50)));  // unbounded max_tokens: at most this one request past
}

}  // namespace
}  // namespace mg::gateway
