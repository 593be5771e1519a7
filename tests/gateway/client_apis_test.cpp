// The same gateway behind every client API: keys, budgets and rate limits refuse alike (each refusal in
// the API's own error shape, with its ledger row), fallback past a failing model and the route header
// work whole and streamed, and the metrics count every request. Parameterised over OpenAI chat
// completions, Anthropic Messages, OpenAI Responses and embeddings, through the real server.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/prometheus_text.h"
#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

using nlohmann::json;

std::string same_model(const std::string& model) { return model; }
std::string said(const std::string& text) { return "You said: " + text; }

struct ClientApi {
  std::string name;
  std::string path;
  json (*body)(const std::string& model, const std::string& text, bool stream);
  std::string (*text)(const RawResponse& response, bool streamed);
  bool anthropic_errors;  // {"type":"error","error":{"type"}} rather than OpenAI's {"error":{"code"}}
  // The fake's model of this API's kind for a chat model's name ("echo", "error", "slow").
  std::string (*model)(const std::string& chat_model) = same_model;
  std::string (*expected_text)(const std::string& input) = said;  // what text() gives for the echo model
  bool streams = true;
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

json embeddings_body(const std::string& model, const std::string& text, bool /*stream*/) { return {{"model", model}, {"input", text}}; }

// An embedding answer's first vector; the fake's embed model answers [words, characters, index, 1].
std::string embedding_text(const RawResponse& response, bool /*streamed*/) {
  return json::parse(response.body)["data"][0]["embedding"].dump();
}

std::string fake_vector(const std::string& input) {
  std::int64_t words = std::count(input.begin(), input.end(), ' ') + 1;
  return json::array({static_cast<double>(words), static_cast<double>(input.size()), 0.0, 1.0}).dump();
}

std::string embedding_model(const std::string& chat_model) { return chat_model == "echo" ? "embed" : "embed_error"; }

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

// The access log's lines, once it has written `expected` of them (its writer wakes every 100 ms).
std::vector<json> access_log_lines(const std::filesystem::path& file, std::size_t expected) {
  std::vector<json> lines;
  for (int wait = 0; wait < 50 && lines.size() < expected; ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    lines.clear();
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  }
  return lines;
}

TEST_P(ClientApiTest, KeysBudgetsAndRateLimitsRefuseAlikeInTheApisOwnShape) {
  TempDir logs;
  const std::filesystem::path access_log = logs.path() / "access.log";
  TestGateway gateway([&](gateway::ServerConfig& config) {
    config.admin_key = kTestAdminKey;
    config.access_log = access_log.string();
  });
  const ClientApi& api = GetParam();
  json limited = create_key_as_admin(gateway, {{"name", "limited"}, {"requests_per_minute", 2}, {"allowed_models", {api.model("echo")}}});
  json spent = create_key_as_admin(gateway, {{"name", "spent"}, {"budget_usd_day", 0}});
  const std::string key = limited["key"];
  json echo = api.body(api.model("echo"), "hello there", false);

  expect_refusal(post(gateway, echo), 401, "invalid_api_key");
  expect_refusal(post(gateway, echo, x_api_key("sk-not-a-modelgate-key")), 401, "invalid_api_key");
  expect_refusal(post(gateway, api.body(api.model("slow"), "hi", false), bearer(key)), 403, "model_not_allowed");
  expect_refusal(post(gateway, echo, bearer(spent["key"])), 402, "budget_exceeded");
  std::optional<RawResponse> answered = post(gateway, echo, bearer(key));
  ASSERT_TRUE(answered);
  EXPECT_EQ(answered->status, 200) << answered->body;
  EXPECT_EQ(api.text(*answered, false), api.expected_text("hello there"));
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

  std::vector<json> lines = access_log_lines(access_log, rows.size());
  ASSERT_EQ(lines.size(), rows.size());
  std::map<std::string, int> logged_status;
  for (const json& line : lines) logged_status[line["request_id"]] = line["status"];
  for (const json& row : rows) EXPECT_EQ(logged_status[row["request_id"]], row["status"]) << row.dump();
}

TEST_P(ClientApiTest, FallsBackPastAFailingModelWholeAndStreamed) {
  TestGateway gateway([](gateway::ServerConfig& config) { config.retry.retries_per_route = 0; });
  const ClientApi& api = GetParam();
  std::vector<bool> streams = {false};
  if (api.streams) streams.push_back(true);
  for (bool stream : streams) {
    json body = api.body(api.model("error"), "fall back", stream);
    body["models"] = {api.model("echo")};
    std::optional<RawResponse> response = post(gateway, body);
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status, 200) << response->body;
    EXPECT_EQ(response->header("x-modelgate-route"), "fake/" + api.model("echo"));
    EXPECT_EQ(api.text(*response, stream), api.expected_text("fall back")) << response->body;
  }
  json rows = ledger_rows(gateway.gateway(), gateway.config().db_path);
  ASSERT_EQ(rows.size(), streams.size());
  for (const json& row : rows) {
    EXPECT_EQ(row["route"], "fake/" + api.model("echo"));
    EXPECT_EQ(row["routes_tried"].size(), 2u) << row.dump();
  }
}

// A model serves one kind of request: a chat model asked for embeddings, or an embedding model asked for
// an answer, is refused with a 400 that says so, and its ledger row.
TEST(EmbeddingsTest, AModelOfTheOtherKindIsRefusedWithA400) {
  TestGateway gateway;
  std::optional<RawResponse> chat_model = gateway.post("/v1/embeddings", embeddings_body("echo", "hi", false));
  ASSERT_TRUE(chat_model);
  EXPECT_EQ(chat_model->status, 400) << chat_model->body;
  json error = json::parse(chat_model->body)["error"];
  EXPECT_EQ(error["code"], "model_kind_mismatch");
  EXPECT_EQ(error["message"], "The model 'echo' is a chat model and serves no embeddings; ask an embedding model");
  std::optional<RawResponse> embedding_model = gateway.post("/v1/chat/completions", chat_body("embed", "hi", false));
  ASSERT_TRUE(embedding_model);
  EXPECT_EQ(embedding_model->status, 400) << embedding_model->body;
  EXPECT_EQ(json::parse(embedding_model->body)["error"]["message"], "The model 'embed' is an embedding model; send it to POST /v1/embeddings");
  json rows = ledger_rows(gateway.gateway(), gateway.config().db_path);
  ASSERT_EQ(rows.size(), 2u);
  for (const json& row : rows) EXPECT_EQ(row["error_code"], "model_kind_mismatch");
}

// A batch comes back in input order, as numbers or base64, and its ledger row is priced by its input
// tokens alone (the fake's embed model: $1 per million input tokens, a token per word).
TEST(EmbeddingsTest, ABatchIsAnsweredInOrderAndPricedByInputTokens) {
  TestGateway gateway;
  json body = {{"model", "embed"}, {"input", {"one", "two words", "and three words"}}};
  std::optional<RawResponse> numbers = gateway.post("/v1/embeddings", body);
  ASSERT_TRUE(numbers);
  ASSERT_EQ(numbers->status, 200) << numbers->body;
  json answer = json::parse(numbers->body);
  EXPECT_EQ(answer["object"], "list");
  EXPECT_EQ(answer["model"], "embed");
  ASSERT_EQ(answer["data"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(answer["data"][i]["index"], i);
    EXPECT_EQ(answer["data"][i]["embedding"][2], static_cast<double>(i));
  }
  EXPECT_EQ(answer["usage"], json::parse(R"({"prompt_tokens":6,"total_tokens":6,"cost":6e-06})"));
  body["encoding_format"] = "base64";
  std::optional<RawResponse> base64 = gateway.post("/v1/embeddings", body);
  ASSERT_TRUE(base64);
  ASSERT_EQ(base64->status, 200) << base64->body;
  // struct.pack('<4f', 1, 3, 0, 1), base64-encoded by Python: input 0 is one word of three characters.
  EXPECT_EQ(json::parse(base64->body)["data"][0]["embedding"], "AACAPwAAQEAAAAAAAACAPw==");
  json rows = ledger_rows(gateway.gateway(), gateway.config().db_path);
  ASSERT_EQ(rows.size(), 2u);
  for (const json& row : rows) {
    EXPECT_EQ(row["route"], "fake/embed");
    EXPECT_EQ(row["prompt_tokens"], 6);
    EXPECT_EQ(row["completion_tokens"], 0);
    EXPECT_DOUBLE_EQ(row["cost_usd"].get<double>(), 6e-6);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryClientApi, ClientApiTest,
                         ::testing::Values(ClientApi{"OpenAiChat", "/v1/chat/completions", chat_body, answer_text, false},
                                           ClientApi{"AnthropicMessages", "/v1/messages", messages_body, messages_text, true},
                                           ClientApi{"OpenAiResponses", "/v1/responses", responses_body, responses_text, false},
                                           ClientApi{"OpenAiEmbeddings", "/v1/embeddings", embeddings_body, embedding_text, false, embedding_model,
                                                     fake_vector, false}),
                         [](const ::testing::TestParamInfo<ClientApi>& api) { return api.param.name; });

}  // namespace
}  // namespace mg::test
