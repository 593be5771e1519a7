// The local engine behind the real server: the demo model's route under concurrency (shared batches,
// seen in the engine's counters on /health), a chat's next turn from the prefix cache, a full queue
// answered 503 with Retry-After, and a client that leaves mid-stream stopping its generation.
#include <future>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/json_schema_oracle.h"
#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kDemoModel = "modelgate-demo";

// A request that runs to max_tokens: the demo vocabulary's EOS (id 2) is banned.
json demo_request(const std::string& system, const std::string& user, int max_tokens, bool stream = false) {
  json body = {{"model", kDemoModel}, {"max_tokens", max_tokens}, {"temperature", 0}, {"logit_bias", {{"2", -100}}}, {"stream", stream}};
  body["messages"] = json::array();
  if (!system.empty()) body["messages"].push_back({{"role", "system"}, {"content", system}});
  body["messages"].push_back({{"role", "user"}, {"content", user}});
  return body;
}

void with_local_engine(gateway::ServerConfig& config) {
  config.local.enabled = true;
  config.local.threads = 1;
}

TEST(LocalRouteTest, ConcurrentRequestsAreDecodedInSharedBatches) {
  TestGateway gateway(with_local_engine);
  std::vector<std::future<std::optional<RawResponse>>> answers;
  for (int i = 0; i < 8; ++i) {
    answers.push_back(std::async(std::launch::async, [&, i] { return gateway.post("/v1/chat/completions", demo_request("", "question " + std::to_string(i), 300)); }));
  }
  for (auto& answer : answers) {
    std::optional<RawResponse> response = answer.get();
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status, 200) << response->body;
    EXPECT_EQ(response->header("x-modelgate-route"), "local/modelgate-demo");
    EXPECT_EQ(json::parse(response->body)["usage"]["completion_tokens"], 300);
  }
  json engine = gateway.health()["local_engine"];
  std::printf("local engine after 8 concurrent requests: %s\n", engine.dump().c_str());
  EXPECT_EQ(engine["completed"], 8);
  EXPECT_EQ(engine["generated_tokens"], 8 * 300);
  EXPECT_GT(engine["shared_steps"].get<int>(), 0);
  EXPECT_GE(engine["max_sequences_in_step"].get<int>(), 2);
  EXPECT_LT(engine["steps"].get<int>(), 8 * 300);  // fewer passes than tokens: they shared
}

TEST(LocalRouteTest, ASecondTurnWithTheSameSystemPromptStartsFromTheCache) {
  TestGateway gateway(with_local_engine);
  const std::string system = "You are a careful assistant who answers in one short sentence and never guesses.";
  std::optional<RawResponse> first = gateway.post("/v1/chat/completions", demo_request(system, "What is a gateway?", 4));
  ASSERT_TRUE(first && first->status == 200);
  EXPECT_EQ(json::parse(first->body)["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  std::optional<RawResponse> second = gateway.post("/v1/chat/completions", demo_request(system, "And what is a route?", 4));
  ASSERT_TRUE(second && second->status == 200);
  json usage = json::parse(second->body)["usage"];
  EXPECT_GT(usage["prompt_tokens_details"]["cached_tokens"].get<int>(), static_cast<int>(system.size() / 4)) << usage.dump();
  EXPECT_LT(usage["prompt_tokens_details"]["cached_tokens"].get<int>(), usage["prompt_tokens"].get<int>());
  json engine = gateway.health()["local_engine"];
  EXPECT_EQ(engine["prefix_hits"], 1);
  EXPECT_EQ(engine["cached_prompt_tokens"], usage["prompt_tokens_details"]["cached_tokens"]);
}

// Like any route: exact usage priced at the configured local rate, in the answer and the ledger, and its
// measured time to first token and throughput in the live statistics.
TEST(LocalRouteTest, UsageIsPricedAtTheLocalRateAndFeedsTheLiveStatistics) {
  TestGateway gateway([](gateway::ServerConfig& config) {
    with_local_engine(config);
    config.local.usd_per_mtok_input = 0.5;
    config.local.usd_per_mtok_output = 1.5;
  });
  for (int i = 0; i < 6; ++i) {  // live figures appear from the fifth sample
    std::optional<RawResponse> response = gateway.post("/v1/chat/completions", demo_request("", "price me " + std::to_string(i), 10));
    ASSERT_TRUE(response && response->status == 200);
    json usage = json::parse(response->body)["usage"];
    EXPECT_EQ(usage["completion_tokens"], 10);
    EXPECT_NEAR(usage["cost"].get<double>(), (usage["prompt_tokens"].get<double>() * 0.5 + 10 * 1.5) / 1e6, 1e-12);
  }
  auto figures = gateway.gateway().routing().live_stats().figures("local/modelgate-demo");
  ASSERT_TRUE(figures);
  EXPECT_EQ(figures->samples, 6);
  EXPECT_GT(*figures->ttft_ms, 0.0);
  EXPECT_GT(*figures->throughput_tok_s, 0.0);
  EXPECT_DOUBLE_EQ(figures->success_rate, 1.0);
}

TEST(LocalRouteTest, AFullQueueIsAnswered503WithRetryAfter) {
  TestGateway gateway([](gateway::ServerConfig& config) {
    with_local_engine(config);
    config.local.max_running = 1;
    config.local.max_queued = 0;
    config.retry.retries_per_route = 0;
  });
  auto busy = std::async(std::launch::async, [&] { return gateway.post("/v1/chat/completions", demo_request("", "a long answer", 500)); });
  gateway.wait_for_health([](const json& health) { return health["local_engine"]["running"] == 1; });
  std::optional<RawResponse> refused = gateway.post("/v1/chat/completions", demo_request("", "me too", 4));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503) << refused->body;
  EXPECT_EQ(refused->header("retry-after"), "5");  // the gateway's no-route figure, at least the engine's 1 s
  EXPECT_NE(refused->body.find("local engine: its queue is full"), std::string::npos) << refused->body;
  std::optional<RawResponse> first = busy.get();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(gateway.health()["local_engine"]["refused"], 1);
}

TEST(LocalRouteTest, AClientLeavingMidStreamStopsItsGeneration) {
  TestGateway gateway(with_local_engine);
  {
    RawConnection connection(gateway.port());
    ASSERT_TRUE(connection.send(build_request("POST", "/v1/chat/completions", demo_request("", "stream a lot", 500, true).dump())));
    ASSERT_NE(connection.read_until("data: ").find("data: "), std::string::npos);
    connection.close_abruptly();
  }
  // The counters are read one by one: "completed" may move a moment before the "running" gauge does.
  json health = gateway.wait_for_health([](const json& h) { return h["local_engine"]["completed"] == 1 && h["local_engine"]["running"] == 0; });
  EXPECT_EQ(health["local_engine"]["completed"], 1);
  EXPECT_EQ(health["local_engine"]["running"], 0);
  EXPECT_LT(health["local_engine"]["generated_tokens"].get<int>(), 500);
}

// Constrained decoding on random weights: whatever the model would say, every answer parses and is valid
// against the schema (judged by Python's jsonschema), 50 seeds out of 50, and one answer in json_object
// mode is an object.
TEST(LocalRouteTest, JsonSchemaAnswersFromRandomWeightsAlwaysValidate) {
  TestGateway gateway(with_local_engine);
  const json schema = json::parse(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string", "maxLength": 16},
      "age": {"type": "integer"},
      "height_m": {"type": "number"},
      "pets": {"type": "array", "items": {"enum": ["cat", "dog", "fish"]}, "maxItems": 3},
      "member": {"type": "boolean"},
      "note": {"type": ["string", "null"], "maxLength": 10}
    },
    "required": ["name", "age", "height_m", "pets", "member", "note"],
    "additionalProperties": false
  })");
  std::vector<std::string> answers;
  for (int seed = 1; seed <= 50; ++seed) {
    json body = {{"model", kDemoModel}, {"seed", seed}, {"messages", {{{"role", "user"}, {"content", "Describe a person as JSON."}}}},
                 {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "person"}, {"strict", true}, {"schema", schema}}}}}};
    std::optional<RawResponse> response = gateway.post("/v1/chat/completions", body);
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status, 200) << response->body;
    json answer = json::parse(response->body);
    EXPECT_EQ(answer["choices"][0]["finish_reason"], "stop");
    answers.push_back(answer["choices"][0]["message"]["content"].get<std::string>());
  }
  std::vector<std::string> verdicts = judge_against_schema(MODELGATE_SOURCE_DIR, schema, answers);
  ASSERT_EQ(verdicts.size(), answers.size());
  for (std::size_t i = 0; i < answers.size(); ++i) EXPECT_EQ(verdicts[i], "ok") << "seed " << i + 1 << ": " << answers[i];
  EXPECT_GT(std::set<std::string>(answers.begin(), answers.end()).size(), 40u) << "the seeds give different answers";

  json object_mode = {{"model", kDemoModel}, {"seed", 3}, {"messages", {{{"role", "user"}, {"content", "Any JSON object."}}}},
                      {"response_format", {{"type", "json_object"}}}};
  std::optional<RawResponse> response = gateway.post("/v1/chat/completions", object_mode);
  ASSERT_TRUE(response && response->status == 200);
  EXPECT_TRUE(json::parse(json::parse(response->body)["choices"][0]["message"]["content"].get<std::string>()).is_object());
}

TEST(LocalRouteTest, ASchemaItCannotEnforceIsRefusedNamingTheKeyword) {
  TestGateway gateway(with_local_engine);
  json body = {{"model", kDemoModel}, {"messages", {{{"role", "user"}, {"content", "x"}}}},
               {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "n"}, {"schema", {{"type", "integer"}, {"minimum", 3}}}}}}}};
  std::optional<RawResponse> response = gateway.post("/v1/chat/completions", body);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503) << response->body;
  EXPECT_NE(response->body.find("the keyword 'minimum' is not supported"), std::string::npos) << response->body;
}

}  // namespace
}  // namespace mg::test
