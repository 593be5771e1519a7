#include "providers/dialect.h"

#include <gtest/gtest.h>

#include "providers/openai_http_provider.h"
#include "formats/openai_wire.h"

namespace mg {
namespace {

using nlohmann::json;

const Dialect& preset(std::string_view name) {
  static const DialectRegistry registry;
  const Dialect* dialect = registry.find(name);
  EXPECT_NE(dialect, nullptr) << name;
  return *dialect;
}

// The body an upstream of `dialect` would get for `wire` (a client's request), as the provider builds it.
json body_for(const Dialect& dialect, const json& wire, const std::string& prefix = {}) {
  Result<ChatRequest> request = parse_chat_request(wire.dump(), ApiFlavor::chat);
  EXPECT_TRUE(request) << request.error().message;
  request->continuation_prefix = prefix;
  UpstreamOptions options;
  options.name = "p";
  options.base_url = "http://127.0.0.1:1/v1";
  options.dialect = dialect;
  boost::asio::io_context io;
  auto provider = OpenAiHttpProvider::create(io.get_executor(), options);
  EXPECT_TRUE(provider);
  return json::parse((*provider)->request_body(*request, "upstream-id").value());
}

const json kFullRequest = {
    {"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"stream", true},
    {"max_tokens", 50}, {"seed", 7}, {"top_k", 40}, {"min_p", 0.1}, {"repetition_penalty", 1.1},
    {"logit_bias", {{"42", 5}}}, {"logprobs", true}, {"top_logprobs", 2}, {"user", "u1"},
    {"provider", {{"order", {"x"}}}}, {"models", {"m2"}}};

TEST(DialectTest, EveryIssuePresetShips) {
  for (const char* name : {"openai", "openai-platform", "openrouter", "deepinfra", "together", "mistral", "groq", "fireworks", "vllm", "llamacpp", "ollama"}) {
    EXPECT_EQ(preset(name).name, name);
  }
}

TEST(DialectTest, TheDefaultSendsTheRequestAsSentButForRoutingFields) {
  json body = body_for(preset("openai"), kFullRequest);
  EXPECT_EQ(body["max_tokens"], 50);
  EXPECT_EQ(body["top_k"], 40);
  EXPECT_EQ(body["seed"], 7);
  EXPECT_FALSE(body.contains("provider"));
  EXPECT_FALSE(body.contains("models"));
}

TEST(DialectTest, OpenAiPlatformRenamesMaxTokensAndDropsOpenModelSampling) {
  json body = body_for(preset("openai-platform"), kFullRequest);
  EXPECT_EQ(body["max_completion_tokens"], 50);
  EXPECT_FALSE(body.contains("max_tokens"));
  for (const char* dropped : {"top_k", "min_p", "repetition_penalty", "provider", "models"}) EXPECT_FALSE(body.contains(dropped)) << dropped;
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_EQ(body["model"], "upstream-id");
}

TEST(DialectTest, OpenRouterKeepsItsRoutingFields) {
  json body = body_for(preset("openrouter"), kFullRequest);
  EXPECT_EQ(body["provider"]["order"], json({"x"}));
  EXPECT_EQ(body["models"], json({"m2"}));
  EXPECT_EQ(body["top_k"], 40);
}

TEST(DialectTest, MistralGetsOnlyWhatItAccepts) {
  json body = body_for(preset("mistral"), kFullRequest);
  EXPECT_EQ(body["random_seed"], 7);
  EXPECT_EQ(body["max_tokens"], 50);
  for (const char* dropped : {"seed", "top_k", "min_p", "repetition_penalty", "logit_bias", "logprobs", "top_logprobs", "user", "stream_options"}) {
    EXPECT_FALSE(body.contains(dropped)) << dropped;
  }
}

TEST(DialectTest, GroqAndLlamaCppRenames) {
  json groq = body_for(preset("groq"), kFullRequest);
  EXPECT_EQ(groq["max_completion_tokens"], 50);
  EXPECT_FALSE(groq.contains("logprobs"));
  json llamacpp = body_for(preset("llamacpp"), kFullRequest);
  EXPECT_EQ(llamacpp["repeat_penalty"], 1.1);
  EXPECT_FALSE(llamacpp.contains("repetition_penalty"));
  EXPECT_EQ(llamacpp["top_k"], 40);
}

TEST(DialectTest, EachContinuationStyleAsksToContinueThePrefix) {
  json prefill = body_for(preset("openrouter"), kFullRequest, "Once upon");
  EXPECT_EQ(prefill["messages"].back(), json({{"role", "assistant"}, {"content", "Once upon"}}));
  json mistral = body_for(preset("mistral"), kFullRequest, "Once upon");
  EXPECT_EQ(mistral["messages"].back(), json({{"role", "assistant"}, {"content", "Once upon"}, {"prefix", true}}));
  json vllm = body_for(preset("vllm"), kFullRequest, "Once upon");
  EXPECT_EQ(vllm["messages"].back()["content"], "Once upon");
  EXPECT_EQ(vllm["continue_final_message"], true);
  EXPECT_EQ(vllm["add_generation_prompt"], false);
  EXPECT_FALSE(body_for(preset("vllm"), kFullRequest).contains("continue_final_message"));
}

TEST(DialectTest, ConfigDefinesADialectOverAPreset) {
  DialectRegistry registry;
  json definition = {{"base", "vllm"}, {"auth_header", "api-key"}, {"auth_prefix", ""}, {"headers", {{"X-Team", "a"}}},
                     {"rename", {{"user", "end_user"}}}, {"drop", {"seed"}}, {"stream_usage", false}, {"continuation", "mistral_prefix"}};
  ASSERT_TRUE(registry.define("azure-like", definition));
  const Dialect& dialect = *registry.find("azure-like");
  EXPECT_EQ(dialect.auth_header, "api-key");
  EXPECT_EQ(dialect.continuation, ContinuationStyle::mistral_prefix);
  json body = body_for(dialect, kFullRequest);
  EXPECT_EQ(body["end_user"], "u1");
  EXPECT_FALSE(body.contains("seed"));
  EXPECT_FALSE(body.contains("stream_options"));
}

TEST(DialectTest, ABadDefinitionIsRefusedWithItsPath) {
  DialectRegistry registry;
  Status unknown_base = registry.define("x", {{"base", "nope"}});
  ASSERT_FALSE(unknown_base);
  EXPECT_EQ(unknown_base.error().param, "dialects.x.base");
  Status typo = registry.define("x", {{"drop_fields", json::array()}});
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().message.find("unknown key"), std::string::npos);
  EXPECT_FALSE(registry.define("x", {{"continuation", "guess"}}));
  EXPECT_EQ(registry.find("x"), nullptr);
}

}  // namespace
}  // namespace mg
