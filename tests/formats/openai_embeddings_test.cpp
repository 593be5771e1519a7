// The embeddings API's formats: a client's body as the upstream receives it, the refusals naming their
// field, an upstream's answer (numbers or base64) into events, and the client's answer. Base64 vectors
// are checked against Python's struct and base64 modules' bytes for the same float32s.
#include <gtest/gtest.h>

#include "formats/openai_embeddings.h"

namespace mg {
namespace {

using nlohmann::json;

// base64.b64encode(struct.pack('<3f', 1.0, -2.0, 0.5)) and struct.pack('<2f', 0.1, -3.25).
constexpr const char* kOneMinusTwoHalf = "AACAPwAAAMAAAAA/";
constexpr const char* kTenthMinusThreeQuarter = "zczMPQAAUMA=";

json upstream_body(std::string_view body) {
  Result<ChatRequest> parsed = parse_embedding_request(body);
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().message);
  if (!parsed.ok()) return json();
  EXPECT_EQ(parsed->flavor, ApiFlavor::embedding);
  json out = to_openai_embedding_json(*parsed);
  out["model"] = parsed->model;
  return out;
}

std::string refusal(std::string_view body) {
  Result<ChatRequest> parsed = parse_embedding_request(body);
  EXPECT_FALSE(parsed.ok()) << body;
  if (parsed.ok()) return "";
  EXPECT_EQ(parsed.error().http_status, 400);
  return parsed.error().message;
}

TEST(EmbeddingParseTest, EachInputShapeReachesTheUpstreamAsSent) {
  EXPECT_EQ(upstream_body(R"({"model":"e","input":"hello"})"), json::parse(R"({"model":"e","input":"hello"})"));
  EXPECT_EQ(upstream_body(R"({"model":"e","input":["a","b c"]})"), json::parse(R"({"model":"e","input":["a","b c"]})"));
  EXPECT_EQ(upstream_body(R"({"model":"e","input":[1,2,3]})"), json::parse(R"({"model":"e","input":[1,2,3]})"));
  EXPECT_EQ(upstream_body(R"({"model":"e","input":[[1,2],[3]]})"), json::parse(R"({"model":"e","input":[[1,2],[3]]})"));
}

TEST(EmbeddingParseTest, OptionsAndUnknownFieldsPassOnAndTheGatewaysOwnAreRead) {
  json got = upstream_body(R"({"model":"e","input":"x","encoding_format":"base64","dimensions":256,"user":"u-1",
                               "input_type":"query","models":["f"],"provider":{"sort":"price"}})");
  EXPECT_EQ(got, json::parse(R"({"model":"e","input":"x","encoding_format":"base64","dimensions":256,"user":"u-1","input_type":"query"})"))
      << got.dump();
  Result<ChatRequest> parsed = parse_embedding_request(R"({"model":"e","input":["x"],"models":["f"],"provider":{"sort":"price"}})");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->requested_models(), (std::vector<std::string>{"e", "f"}));
  EXPECT_EQ(parsed->provider->sort, "price");
  EXPECT_FALSE(parsed->embedding_encoding);  // not sent: the upstream's default (float)
}

TEST(EmbeddingParseTest, TheEstimateCountsEveryInputAndTheContextNeedTheLongest) {
  Result<ChatRequest> parsed = parse_embedding_request(R"({"model":"e","input":["12345678","1234"]})");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->estimated_prompt_tokens(), 3);  // 2 + 1, at about four characters a token
  EXPECT_EQ(parsed->estimated_context_need(), 2);
  parsed = parse_embedding_request(R"({"model":"e","input":[[1,2,3],[4]]})");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->estimated_prompt_tokens(), 4);
  EXPECT_EQ(parsed->estimated_context_need(), 3);
}

TEST(EmbeddingParseTest, RefusalsNameTheirField) {
  EXPECT_EQ(refusal(R"({"input":"x"})"), "'model' is required");
  EXPECT_EQ(refusal(R"({"model":"e"})"), "'input' is required");
  EXPECT_EQ(refusal(R"({"model":"e","input":""})"), "'input' must not be an empty string");
  EXPECT_EQ(refusal(R"({"model":"e","input":[]})"), "'input' must hold at least one input");
  EXPECT_EQ(refusal(R"({"model":"e","input":["a",""]})"), "'input[1]' must not be an empty string");
  EXPECT_EQ(refusal(R"({"model":"e","input":[[]]})"), "'input[0]' must hold at least one token id");
  EXPECT_EQ(refusal(R"({"model":"e","input":["a",1]})"),
            "'input[1]' must be of the first input's type (string); input is a string, an array of strings, an array of token ids or an "
            "array of token-id arrays");
  EXPECT_EQ(refusal(R"({"model":"e","input":[-1]})"), "'input[0]' must be between 0 and 2147483647; got -1");
  EXPECT_EQ(refusal(R"({"model":"e","input":{"a":1}})").substr(0, 16), "'input' must be ");
  EXPECT_EQ(refusal(R"({"model":"e","input":[true]})").substr(0, 19), "'input[0]' must be ");
  EXPECT_EQ(refusal(R"({"model":"e","input":"x","encoding_format":"int8"})"), "'encoding_format' must be \"float\" or \"base64\"; got \"int8\"");
  EXPECT_EQ(refusal(R"({"model":"e","input":"x","dimensions":0})"), "'dimensions' must be between 1 and 65536; got 0");
  EXPECT_EQ(refusal(R"({"model":"e","input":"x","stream":true})"), "'stream' is not supported: embeddings are answered whole; leave it out");
  EXPECT_EQ(refusal(R"({"model":"e","input":"x"} x)").substr(0, 34), "request body is not valid JSON: th");
}

TEST(EmbeddingParseTest, ABatchHoldsAtMost2048Inputs) {
  std::string body = R"({"model":"e","input":[)";
  for (std::size_t i = 0; i <= kMaxEmbeddingInputs; ++i) body += (i ? ",\"t\"" : "\"t\"");
  EXPECT_EQ(refusal(body + "]}"), "'input' holds more than 2048 inputs");
}

TEST(EmbeddingAnswerTest, NumbersAndBase64DecodeAlikeInTheOrderOfTheInputs) {
  std::vector<ChatEvent> events;
  std::string body = std::string(R"({"object":"list","model":"m","data":[
      {"object":"embedding","index":1,"embedding":")") + kOneMinusTwoHalf + R"("},
      {"object":"embedding","index":0,"embedding":[0.25,-1e-3,3]}],
    "usage":{"prompt_tokens":7,"total_tokens":7}})";
  decode_embedding_answer(body, 2, 99, events);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(std::get<EmbeddingVector>(events[0]).index, 0);
  EXPECT_EQ(std::get<EmbeddingVector>(events[0]).values, (std::vector<double>{0.25, -1e-3, 3}));
  EXPECT_EQ(std::get<EmbeddingVector>(events[1]).index, 1);
  EXPECT_EQ(std::get<EmbeddingVector>(events[1]).values, (std::vector<double>{1.0, -2.0, 0.5}));
  EXPECT_EQ(std::get<UsageReport>(events[2]).prompt_tokens, 7);
  EXPECT_TRUE(std::holds_alternative<StreamDone>(events[3]));
}

TEST(EmbeddingAnswerTest, AnAnswerWithoutUsableUsageIsBilledTheEstimate) {
  for (const char* body : {R"({"data":[{"index":0,"embedding":[1]}]})", R"({"data":[{"index":0,"embedding":[1]}],"usage":null})",
                           R"({"data":[{"index":0,"embedding":[1]}],"usage":{"prompt_tokens":-5}})",
                           R"({"data":[{"index":0,"embedding":[1]}],"usage":{"prompt_tokens":"9"}})"}) {
    std::vector<ChatEvent> events;
    decode_embedding_answer(body, 1, 42, events);
    ASSERT_EQ(events.size(), 3u) << body;
    EXPECT_EQ(std::get<UsageReport>(events[1]).prompt_tokens, 42) << body;
  }
}

TEST(EmbeddingAnswerTest, AMalformedAnswerFailsTransientlySoTheNextRouteIsTried) {
  const std::pair<const char*, std::size_t> cases[] = {
      {R"({"data":[{"index":0,"embedding":[1]}]})", 2},                                   // one vector short
      {R"({"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]})", 2},     // the same index twice
      {R"({"data":[{"index":5,"embedding":[1]}]})", 1},                                   // out of range
      {R"({"data":[{"index":0,"embedding":[]}]})", 1},                                    // empty
      {R"({"data":[{"index":0,"embedding":"not base64!"}]})", 1},
      {R"({"data":[{"index":0,"embedding":"AAA="}]})", 1},                                // 2 bytes: no whole float32
      {R"({"data":[{"index":0,"embedding":[1e300]}]})", 1},                               // past float32
      {R"({"data":[{"index":0,"embedding":["x"]}]})", 1},
      {R"({"data":)", 1},
      {R"({"error":{"message":"model overloaded"}})", 1},
  };
  for (const auto& [body, inputs] : cases) {
    std::vector<ChatEvent> events;
    decode_embedding_answer(body, inputs, 1, events);
    ASSERT_EQ(events.size(), 1u) << body;
    const auto* failed = std::get_if<StreamFailed>(&events[0]);
    ASSERT_TRUE(failed) << body;
    EXPECT_EQ(failed->error.failure, FailureClass::transient) << body;
    EXPECT_EQ(failed->error.http_status, 502) << body;
  }
}

// Embeddings are answered whole: an upstream streaming events instead fails the route, once.
TEST(EmbeddingAnswerTest, AnEventStreamInPlaceOfTheAnswerFailsTheRoute) {
  Result<ChatRequest> request = parse_embedding_request(R"({"model":"e","input":"x"})");
  ASSERT_TRUE(request.ok());
  std::unique_ptr<AnswerDecoder> decoder = make_answer_decoder(WireApi::openai_chat, *request);
  std::vector<ChatEvent> events;
  decoder->on_stream_data(R"({"data":[{"index":0,"embedding":[1]}]})", events);
  decoder->on_stream_end(events);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(std::get<StreamFailed>(events[0]).error.failure, FailureClass::transient);
}

TEST(EmbeddingAnswerTest, Base64IsLittleEndianFloat32AsPythonWritesIt) {
  EXPECT_EQ(float32_base64({1.0, -2.0, 0.5}), kOneMinusTwoHalf);
  EXPECT_EQ(float32_base64({0.1, -3.25}), kTenthMinusThreeQuarter);  // 0.1 rounds to float32, as numpy.float32 does
  Result<std::vector<double>> back = float32_from_base64(kTenthMinusThreeQuarter);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, (std::vector<double>{static_cast<double>(0.1f), -3.25}));
}

TEST(EmbeddingAnswerTest, TheClientsListCarriesEachVectorAsAsked) {
  std::vector<std::vector<double>> vectors = {{0.5, -0.25}, {1.0, 0.1}};
  UsageReport usage;
  usage.prompt_tokens = 6;
  json numbers = json::parse(embedding_list_json(vectors, EmbeddingEncoding::float_array, "text-embed", usage, 0.000006));
  EXPECT_EQ(numbers, json::parse(R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-0.25]},
                                                             {"object":"embedding","index":1,"embedding":[1.0,0.1]}],
                                    "model":"text-embed","usage":{"prompt_tokens":6,"total_tokens":6,"cost":6e-06}})"));
  json base64 = json::parse(embedding_list_json({{1.0, -2.0, 0.5}}, EmbeddingEncoding::base64, "m\"x", usage, 0));
  EXPECT_EQ(base64["data"][0]["embedding"], kOneMinusTwoHalf);
  EXPECT_EQ(base64["model"], "m\"x");
}

}  // namespace
}  // namespace mg
