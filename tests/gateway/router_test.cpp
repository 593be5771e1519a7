// Routing decisions on the seed catalogue (a real SQLite file) and on random catalogues.
#include "gateway/router.h"

#include <random>

#include <gtest/gtest.h>

#include "formats/openai_wire.h"
#include "tests/support/test_gateway.h"

namespace mg::gateway {
namespace {

using pricing::CatalogueSnapshot;
using pricing::RouteEntry;

std::shared_ptr<const CatalogueSnapshot> seed_snapshot(const pricing::ProviderCheck& check = [](const auto&) { return std::string(); }) {
  test::TempDir dir;
  pricing::Database db = pricing::Database::open(test_database(dir, "seed.db"));
  return CatalogueSnapshot::build(pricing::load_catalogue(db), {}, check, 1);
}

ChatRequest request(const std::string& json_text) {
  Result<ChatRequest> parsed = parse_chat_request(json_text, ApiFlavor::chat);
  EXPECT_TRUE(parsed) << parsed.error().message;
  return std::move(parsed).value();
}

ChatRequest short_request(const std::string& model, const std::string& extra = "") {
  return request(R"({"model":")" + model + R"(","messages":[{"role":"user","content":"Hi there"}])" + extra + "}");
}

std::vector<std::string> chain_names(const Result<RoutePlan>& plan) {
  std::vector<std::string> names;
  if (plan) {
    for (const RouteEntry* route : plan->chain) names.push_back(route->name);
  }
  return names;
}

class RouterTest : public ::testing::Test {
 protected:
  Result<RoutePlan> plan(const ChatRequest& r, const RoutingOptions& options = {}) {
    RoutingContext context{*snapshot_, stats_.get(), {}, &random_};
    return plan_routes(r, context, options);
  }

  std::shared_ptr<const CatalogueSnapshot> snapshot_ = seed_snapshot();
  std::unique_ptr<pricing::LiveStats> stats_ = std::make_unique<pricing::LiveStats>();
  std::mt19937_64 random_{42};
};

TEST_F(RouterTest, PricePolicyPicksCheapestRouteForMistral7B) {
  auto result = plan(short_request("mistral-7b-instruct"));
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(chain_names(result), (std::vector<std::string>{"openrouter/mistral-7b-instruct", "deepinfra/mistral-7b-instruct",
                                                           "together/mistral-7b-instruct"}));
  EXPECT_DOUBLE_EQ(result->chain[0]->usd_per_mtok_input, 0.11);
  EXPECT_DOUBLE_EQ(result->chain[0]->usd_per_mtok_output, 0.19);
}

TEST_F(RouterTest, PricePolicyPicksBedrockForMixtralOnAShortPrompt) {
  auto result = plan(short_request("mixtral-8x7b-instruct"));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->chain.front()->name, "bedrock/mixtral-8x7b-instruct");
  EXPECT_DOUBLE_EQ(result->chain.front()->usd_per_mtok_output, 0.70);
  EXPECT_EQ(result->chain.size(), 4u);
  EXPECT_EQ(result->chain.back()->name, "together/mixtral-8x7b-instruct");
}

TEST_F(RouterTest, LongAnswersMakeTheFlatPricedRouteCheaper) {
  // 0.45 in / 0.70 out loses to 0.54 / 0.54 once output dominates the expected cost.
  auto result = plan(short_request("mixtral-8x7b-instruct", R"(,"max_tokens":1000)"));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->chain.front()->provider, "deepinfra");  // ties with openrouter at 0.54/0.54, broken by name
  EXPECT_EQ(result->chain[1]->provider, "openrouter");
}

TEST_F(RouterTest, AliasesResolveToTheModel) {
  for (const char* alias : {"mistral-7b-instruct-v0.1", "mistral-7b-instruct-v0.3", "mistralai/mistral-7b-instruct"}) {
    auto result = plan(short_request(alias));
    ASSERT_TRUE(result) << alias;
    EXPECT_EQ(result->chain.front()->model_id, "mistral-7b-instruct");
  }
}

TEST_F(RouterTest, ThroughputPolicyPicksFastestAndPutsUnknownLast) {
  auto result = plan(short_request("mixtral-8x7b-instruct", R"(,"provider":{"sort":"throughput"})"));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->chain.front()->name, "deepinfra/mixtral-8x7b-instruct");  // the only one with a published 138 tok/s
  auto nitro = plan(short_request("mixtral-8x7b-instruct:nitro"));
  ASSERT_TRUE(nitro);
  EXPECT_EQ(chain_names(nitro), chain_names(result));
}

TEST_F(RouterTest, MeasuredFiguresReplacePublishedOnceThereAreEnoughSamples) {
  for (int i = 0; i < 4; ++i) stats_->record("together/mistral-7b-instruct", {true, true, 50.0, 900.0});
  auto before = plan(short_request("mistral-7b-instruct", R"(,"provider":{"sort":"latency"})"));
  ASSERT_TRUE(before);
  EXPECT_NE(before->chain.front()->provider, "together") << "4 samples are below the minimum of 5";
  stats_->record("together/mistral-7b-instruct", {true, true, 50.0, 900.0});
  auto latency = plan(short_request("mistral-7b-instruct", R"(,"provider":{"sort":"latency"})"));
  ASSERT_TRUE(latency);
  EXPECT_EQ(latency->chain.front()->provider, "together");
  auto throughput = plan(short_request("mistral-7b-instruct", R"(,"provider":{"sort":"throughput"})"));
  ASSERT_TRUE(throughput);
  EXPECT_EQ(throughput->chain.front()->provider, "together");
}

TEST_F(RouterTest, LatencyPolicyPicksLowestTtft) {
  for (int i = 0; i < 5; ++i) stats_->record("openrouter/mixtral-8x7b-instruct", {true, true, 90.0, 100.0});
  auto result = plan(short_request("mixtral-8x7b-instruct", R"(,"provider":{"sort":"latency"})"));
  ASSERT_TRUE(result);
  EXPECT_EQ(chain_names(result).front(), "openrouter/mixtral-8x7b-instruct");
  EXPECT_EQ(chain_names(result)[1], "deepinfra/mixtral-8x7b-instruct");  // published 288 ms; the other two unknown
}

TEST_F(RouterTest, FloorSuffixForcesPrice) {
  auto result = plan(short_request("mixtral-8x7b-instruct:floor", R"(,"provider":{"sort":"throughput"})"));
  ASSERT_TRUE(result);
  EXPECT_EQ(result->chain.front()->provider, "bedrock");
}

TEST_F(RouterTest, OrderPutsNamedProvidersFirstThenTheRest) {
  auto result = plan(short_request("mixtral-8x7b-instruct", R"(,"provider":{"order":["Together","openrouter"]})"));
  ASSERT_TRUE(result);
  EXPECT_EQ(chain_names(result), (std::vector<std::string>{"together/mixtral-8x7b-instruct", "openrouter/mixtral-8x7b-instruct",
                                                           "bedrock/mixtral-8x7b-instruct", "deepinfra/mixtral-8x7b-instruct"}));
}

TEST_F(RouterTest, AllowFallbacksFalseKeepsOnlyOrderedProvidersOrTheBestOne) {
  auto ordered = plan(short_request("mixtral-8x7b-instruct", R"(,"provider":{"order":["together"],"allow_fallbacks":false})"));
  ASSERT_TRUE(ordered);
  EXPECT_EQ(chain_names(ordered), (std::vector<std::string>{"together/mixtral-8x7b-instruct"}));
  auto best = plan(short_request("mixtral-8x7b-instruct", R"(,"provider":{"allow_fallbacks":false})"));
  ASSERT_TRUE(best);
  EXPECT_EQ(chain_names(best), (std::vector<std::string>{"bedrock/mixtral-8x7b-instruct"}));
}

TEST_F(RouterTest, OnlyAndIgnoreFilterProviders) {
  auto only = plan(short_request("mixtral-8x7b-instruct", R"(,"provider":{"only":["deepinfra","together"]})"));
  ASSERT_TRUE(only);
  EXPECT_EQ(chain_names(only), (std::vector<std::string>{"deepinfra/mixtral-8x7b-instruct", "together/mixtral-8x7b-instruct"}));
  auto ignore = plan(short_request("mixtral-8x7b-instruct", R"(,"provider":{"ignore":["bedrock"]})"));
  ASSERT_TRUE(ignore);
  EXPECT_EQ(ignore->chain.front()->provider, "deepinfra");
  EXPECT_EQ(ignore->chain.size(), 3u);
}

TEST_F(RouterTest, MaxPriceDropsRoutesAboveIt) {
  auto result = plan(short_request("mixtral-8x7b-instruct", R"(,"provider":{"max_price":{"prompt":0.5}})"));
  ASSERT_TRUE(result);
  EXPECT_EQ(chain_names(result), (std::vector<std::string>{"bedrock/mixtral-8x7b-instruct"}));
  auto completion = plan(short_request("mixtral-8x7b-instruct", R"(,"provider":{"max_price":{"completion":0.55}})"));
  ASSERT_TRUE(completion);
  EXPECT_EQ(completion->chain.size(), 2u);  // deepinfra and openrouter at 0.54
  auto none = plan(short_request("mixtral-8x7b-instruct", R"(,"provider":{"max_price":{"prompt":0.1}})"));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().http_status, 503);
  EXPECT_NE(none.error().message.find("bedrock/mixtral-8x7b-instruct: input price above provider.max_price.prompt"), std::string::npos);
}

TEST_F(RouterTest, PreferredThresholdsDeprioritizeInsteadOfExcluding) {
  auto throughput = plan(short_request("mistral-7b-instruct", R"(,"provider":{"preferred_min_throughput":150})"));
  ASSERT_TRUE(throughput);
  EXPECT_EQ(throughput->chain.front()->provider, "openrouter");  // all publish 199 tok/s: nothing moves
  for (int i = 0; i < 5; ++i) stats_->record("openrouter/mistral-7b-instruct", {true, true, 300.0, 40.0});
  auto slow_cheapest = plan(short_request("mistral-7b-instruct", R"(,"provider":{"preferred_min_throughput":{"p90":150}})"));
  ASSERT_TRUE(slow_cheapest);
  EXPECT_EQ(chain_names(slow_cheapest).back(), "openrouter/mistral-7b-instruct");  // measured 40 tok/s: last, not gone
  EXPECT_EQ(slow_cheapest->chain.size(), 3u);
  auto latency = plan(short_request("mixtral-8x7b-instruct", R"(,"provider":{"preferred_max_latency":0.5})"));
  ASSERT_TRUE(latency);
  EXPECT_EQ(latency->chain.front()->provider, "deepinfra");  // 288 ms published; the others have no figure
}

TEST_F(RouterTest, RequireParametersNeedsJsonSupportAndToolsAlwaysNeedTools) {
  test::TempDir dir;
  pricing::Database db = pricing::Database::open(test_database(dir, "caps.db"));
  db.exec("INSERT INTO models(id, context_length, supports_tools, supports_json) VALUES ('plain', 4096, 0, 0)");
  db.exec("INSERT INTO routes(model_id, provider, upstream_model_id, usd_per_mtok_input, usd_per_mtok_output, context_length)"
          " VALUES ('plain', 'groq', 'plain', 0.1, 0.1, 4096)");
  snapshot_ = CatalogueSnapshot::build(pricing::load_catalogue(db), {}, [](const auto&) { return std::string(); }, 2);
  auto tools = plan(short_request("plain", R"(,"tools":[{"type":"function","function":{"name":"f"}}])"));
  ASSERT_FALSE(tools);
  EXPECT_NE(tools.error().message.find("groq/plain: does not support tools"), std::string::npos);
  EXPECT_TRUE(plan(short_request("plain", R"(,"response_format":{"type":"json_object"})")));
  auto strict = plan(short_request("plain", R"(,"response_format":{"type":"json_object"},"provider":{"require_parameters":true})"));
  EXPECT_FALSE(strict);
}

TEST_F(RouterTest, ContextMustFitPromptAndMaxTokens) {
  auto fits = plan(short_request("mistral-7b-instruct", R"(,"max_tokens":30000)"));
  EXPECT_TRUE(fits);
  auto too_long = plan(short_request("mistral-7b-instruct", R"(,"max_tokens":40000)"));
  ASSERT_FALSE(too_long);
  EXPECT_NE(too_long.error().message.find("context of 32768 tokens is too small"), std::string::npos);
}

TEST_F(RouterTest, MissingCredentialsAndOpenCircuitsMakeRoutesIneligible) {
  snapshot_ = seed_snapshot([](const pricing::ProviderRecord& provider) {
    return provider.name == "openrouter" ? "no API key in " + provider.api_key_env : std::string();
  });
  RoutingContext context{*snapshot_, nullptr, [](const RouteEntry& route) { return route.provider == "deepinfra"; }, &random_};
  auto result = plan_routes(short_request("mistral-7b-instruct"), context);
  ASSERT_TRUE(result);
  EXPECT_EQ(chain_names(result), (std::vector<std::string>{"together/mistral-7b-instruct"}));
  EXPECT_EQ(result->excluded, (std::vector<std::string>{"deepinfra/mistral-7b-instruct: circuit open after recent failures",
                                                        "openrouter/mistral-7b-instruct: not configured on this gateway"}))
      << "why a route has no client (a variable's name) is the operator's, not the client's";
}

TEST_F(RouterTest, ModelsListChainsModelsInOrderAndSkipsUnknown) {
  ChatRequest r = request(R"({"model":"gpt-unknown","models":["mixtral-8x7b-instruct","mistral-7b-instruct"],
                             "messages":[{"role":"user","content":"x"}]})");
  auto result = plan(r);
  ASSERT_TRUE(result);
  ASSERT_EQ(result->chain.size(), 7u);
  EXPECT_EQ(result->chain[0]->model_id, "mixtral-8x7b-instruct");
  EXPECT_EQ(result->chain[4]->model_id, "mistral-7b-instruct");
}

TEST_F(RouterTest, UnknownModelIs404) {
  auto result = plan(short_request("gpt-9"));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().http_status, 404);
  EXPECT_EQ(result.error().code, "model_not_found");
}

TEST_F(RouterTest, BalancedIsSeedableAndFavoursCheapRoutes) {
  ChatRequest r = short_request("mistral-7b-instruct", R"(,"max_tokens":100)");
  RoutingOptions balanced{RoutingPolicy::balanced};
  std::map<std::string, int> firsts;
  std::mt19937_64 replay_a{7}, replay_b{7};
  for (int i = 0; i < 2000; ++i) {
    auto result = plan(r, balanced);
    ASSERT_TRUE(result);
    ++firsts[result->chain.front()->provider];
  }
  // Weights 1/price^2 with expected costs 2.0e-5, 2.2e-5 and 2.2e-5 (x token counts): the cheapest wins
  // most often, and every route still gets traffic.
  EXPECT_GT(firsts["openrouter"], firsts["deepinfra"]);
  EXPECT_GT(firsts["deepinfra"], 200);
  EXPECT_GT(firsts["together"], 200);
  RoutingContext a{*snapshot_, nullptr, {}, &replay_a};
  RoutingContext b{*snapshot_, nullptr, {}, &replay_b};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(chain_names(plan_routes(r, a, balanced)), chain_names(plan_routes(r, b, balanced)));
}

TEST_F(RouterTest, LastResortRoutesGoLast) {
  pricing::BuiltinRoute local;
  local.route.route_id = -1;
  local.route.model_id = "mistral-7b-instruct";
  local.route.provider = "local";
  local.route.name = "local/mistral-7b-instruct";
  local.route.context_length = 32768;
  local.route.last_resort = true;  // free, yet last
  local.model_context_length = 32768;
  test::TempDir dir;
  pricing::Database db = pricing::Database::open(test_database(dir, "local.db"));
  snapshot_ = CatalogueSnapshot::build(pricing::load_catalogue(db), {local}, [](const auto&) { return std::string(); }, 3);
  auto result = plan(short_request("mistral-7b-instruct"));
  ASSERT_TRUE(result);
  EXPECT_EQ(chain_names(result).back(), "local/mistral-7b-instruct");
  EXPECT_EQ(result->chain.front()->provider, "openrouter");
}

// Property: over random catalogues and requests, the price policy's first route is never costlier than
// any eligible route, and the chain is sorted by expected cost.
TEST(RouterPropertyTest, PricePolicyNeverChoosesACostlierRouteThanAnEligibleOne) {
  std::mt19937_64 random(20261123);
  std::uniform_real_distribution<double> price(0.0, 5.0);
  std::uniform_int_distribution<int> context(512, 65536);
  for (int trial = 0; trial < 300; ++trial) {
    pricing::CatalogueData data;
    data.models.push_back(pricing::ModelRecord{"m", "", 65536, true, true, {}});
    int providers = 1 + static_cast<int>(random() % 12);
    for (int p = 0; p < providers; ++p) {
      std::string name = "p" + std::to_string(p);
      data.providers.push_back(pricing::ProviderRecord{name, "http://x", "", "openai", random() % 10 != 0});
      pricing::RouteRecord route;
      route.id = p + 1;
      route.model_id = "m";
      route.provider = name;
      route.upstream_model_id = "m";
      route.usd_per_mtok_input = price(random);
      route.usd_per_mtok_output = price(random);
      route.context_length = context(random);
      route.enabled = random() % 10 != 0;
      data.routes.push_back(route);
    }
    auto snapshot = CatalogueSnapshot::build(data, {}, [](const auto&) { return std::string(); }, 1);
    std::string prompt(static_cast<std::size_t>(random() % 8000), 'a');
    int max_tokens = 1 + static_cast<int>(random() % 4000);
    ChatRequest r = request(R"({"model":"m","max_tokens":)" + std::to_string(max_tokens) + R"(,"messages":[{"role":"user","content":")" +
                            prompt + R"("}]})");
    RoutingContext routing{*snapshot, nullptr, {}, nullptr};
    auto result = plan_routes(r, routing);
    std::int64_t prompt_tokens = r.estimated_prompt_tokens();
    std::int64_t needed = prompt_tokens + max_tokens;
    double cheapest_eligible = std::numeric_limits<double>::infinity();
    for (const RouteEntry& route : snapshot->routes()) {
      if (route.enabled && route.context_length >= needed) {
        cheapest_eligible = std::min(cheapest_eligible, expected_cost_usd(route, prompt_tokens, max_tokens));
      }
    }
    if (std::isinf(cheapest_eligible)) {
      EXPECT_FALSE(result) << "trial " << trial;
      continue;
    }
    ASSERT_TRUE(result) << "trial " << trial << ": " << result.error().message;
    EXPECT_DOUBLE_EQ(expected_cost_usd(*result->chain.front(), prompt_tokens, max_tokens), cheapest_eligible) << "trial " << trial;
    for (std::size_t i = 1; i < result->chain.size(); ++i) {
      EXPECT_LE(expected_cost_usd(*result->chain[i - 1], prompt_tokens, max_tokens), expected_cost_usd(*result->chain[i], prompt_tokens, max_tokens));
      EXPECT_TRUE(result->chain[i]->enabled);
      EXPECT_GE(result->chain[i]->context_length, needed);
    }
  }
}

}  // namespace
}  // namespace mg::gateway
