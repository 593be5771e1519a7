// The same gateway behind every client API: keys, budgets and rate limits refuse alike (each refusal in
// the API's own error shape, with its ledger row), fallback past a failing model and the route header
// work whole and streamed, and the metrics count every request. Parameterised over OpenAI chat
// completions, Anthropic Messages and OpenAI Responses, through the real server.
#include <gtest/gtest.h>

#include "tests/support/prometheus_text.h"
#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

using nlohmann::json;

struct ClientApi {
  std::string name;
  std::string path;
  json (*body)(const std::string& model, const std::string& text, bool stream);
  std::string (*text)(const RawResponse& response, bool streamed);
  bool anthropic_errors;  // {"type":"error","error":{"type"}} rather than OpenAI's {"error":{"code"}}
};

json messages_body(const std::string& model, const std::string& text, bool stream) {
  return {{"model", model}, {"max_tokens", 64}, {"messages", {{{"role", "user"}, {"content", text}}}}, {"stream", stream}};
}

json responses_body(const std::string& model, const std::string& text, bool stream) {
  return {{"model", model}, {"input", text}, {"stream", stream}};
}

// The text of an SSE answer's events of type `delta_type`, each event's `field` joined.
std::string streamed_deltas(const RawResponse& response, const std::string& delta_type, const json::json_pointer& field) {
  std::string text;
  for (const std::string& line : sse_data_lines(response.body)) {
    json event = json::parse(line, nullptr, false);
    if (event.is_object() && event.value("type", "") == delta_type && event.contains(field)) text += event[field].get<std::string>();
  }
  return text;
}

std::string messages_text(const RawResponse& response, bool streamed) {
  if (streamed) return streamed_deltas(response, "content_block_delta", json::json_pointer("/delta/text"));
  return json::parse(response.body)["content"][0]["text"];
}

std::string responses_text(const RawResponse& response, bool streamed) {
  if (streamed) return streamed_deltas(response, "response.output_text.delta", json::json_pointer("/delta"));
  return json::parse(response.body)["output"][0]["content"][0]["text"];
}

Headers x_api_key(const std::string& key) { return {{"Content-Type", "application/json"}, {"x-api-key", key}}; }

const char* anthropic_type(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 429: return "rate_limit_error";
    default: return "invalid_request_error";
  }
}

class ClientApiTest : public ::testing::TestWithParam<ClientApi> {
 protected:
  // The refusal's status and its error in the API's shape: OpenAI's code, or Anthropic's type.
  void expect_refusal(const std::optional<RawResponse>& response, int status, const std::string& code) {
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, status) << response->body;
    json body = json::parse(response->body);
    if (GetParam().anthropic_errors) {
      EXPECT_EQ(body["type"], "error") << response->body;
      EXPECT_EQ(body["error"]["type"], anthropic_type(status)) << response->body;
    } else {
      EXPECT_EQ(body["error"]["code"], code) << response->body;
    }
    EXPECT_FALSE(body["error"]["message"].get<std::string>().empty());
  }

  std::optional<RawResponse> post(TestGateway& gateway, const json& body, const Headers& headers = {{"Content-Type", "application/json"}}) {
    return gateway.post(GetParam().path, body, headers);
  }
};

TEST_P(ClientApiTest, KeysBudgetsAndRateLimitsRefuseAlikeInTheApisOwnShape) {
  TestGateway gateway([](gateway::ServerConfig& config) { config.admin_key = kTestAdminKey; });
  const ClientApi& api = GetParam();
  json limited = create_key_as_admin(gateway, {{"name", "limited"}, {"requests_per_minute", 2}, {"allowed_models", {"echo"}}});
  json spent = create_key_as_admin(gateway, {{"name", "spent"}, {"budget_usd_day", 0}});
  const std::string key = limited["key"];
  json echo = api.body("echo", "hello there", false);

  expect_refusal(post(gateway, echo), 401, "invalid_api_key");
  expect_refusal(post(gateway, echo, x_api_key("sk-not-a-modelgate-key")), 401, "invalid_api_key");
  expect_refusal(post(gateway, api.body("slow", "hi", false), bearer(key)), 403, "model_not_allowed");
  expect_refusal(post(gateway, echo, bearer(spent["key"])), 402, "budget_exceeded");
  std::optional<RawResponse> answered = post(gateway, echo, bearer(key));
  ASSERT_TRUE(answered);
  EXPECT_EQ(answered->status, 200) << answered->body;
  EXPECT_EQ(api.text(*answered, false), "You said: hello there");
  EXPECT_EQ(post(gateway, echo, x_api_key(key))->status, 200);  // Anthropic's header, on every API
  std::optional<RawResponse> limited_out = post(gateway, echo, bearer(key));
  expect_refusal(limited_out, 429, "rate_limit_exceeded");
  EXPECT_GE(std::stoi(limited_out->header("retry-after")), 1);

  json rows = ledger_rows(gateway.gateway(), gateway.config().db_path);
  std::map<std::pair<int, std::string>, int> outcomes;
  for (const json& row : rows) ++outcomes[{row["status"].get<int>(), row["error_code"].get<std::string>()}];
  EXPECT_EQ((outcomes[{401, "invalid_api_key"}]), 2);
  EXPECT_EQ((outcomes[{403, "model_not_allowed"}]), 1);
  EXPECT_EQ((outcomes[{402, "budget_exceeded"}]), 1);
  EXPECT_EQ((outcomes[{429, "rate_limit_exceeded"}]), 1);
  EXPECT_EQ((outcomes[{200, ""}]), 2);

  std::optional<RawResponse> scrape = gateway.get_as_operator("/metrics");
  ASSERT_TRUE(scrape);
  double counted = 0;
  for (const auto& [name, value] : prometheus_samples(scrape->body)) {
    if (name.starts_with("modelgate_requests_total{")) counted += value;
  }
  EXPECT_EQ(counted, static_cast<double>(rows.size()));
}

TEST_P(ClientApiTest, FallsBackPastAFailingModelWholeAndStreamed) {
  TestGateway gateway([](gateway::ServerConfig& config) { config.retry.retries_per_route = 0; });
  const ClientApi& api = GetParam();
  for (bool stream : {false, true}) {
    json body = api.body("error", "fall back", stream);
    body["models"] = {"echo"};
    std::optional<RawResponse> response = post(gateway, body);
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status, 200) << response->body;
    EXPECT_EQ(response->header("x-modelgate-route"), "fake/echo");
    EXPECT_EQ(api.text(*response, stream), "You said: fall back") << response->body;
  }
  json rows = ledger_rows(gateway.gateway(), gateway.config().db_path);
  ASSERT_EQ(rows.size(), 2u);
  for (const json& row : rows) {
    EXPECT_EQ(row["route"], "fake/echo");
    EXPECT_EQ(row["routes_tried"].size(), 2u) << row.dump();
  }
}

INSTANTIATE_TEST_SUITE_P(EveryClientApi, ClientApiTest,
                         ::testing::Values(ClientApi{"OpenAiChat", "/v1/chat/completions", chat_body, answer_text, false},
                                           ClientApi{"AnthropicMessages", "/v1/messages", messages_body, messages_text, true},
                                           ClientApi{"OpenAiResponses", "/v1/responses", responses_body, responses_text, false}),
                         [](const ::testing::TestParamInfo<ClientApi>& api) { return api.param.name; });

}  // namespace
}  // namespace mg::test
