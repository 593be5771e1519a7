// CPU cost of the gateway's own work per request, without sockets: parsing and validating the request,
// and formatting the answer as SSE chunks or one JSON body.
#include <benchmark/benchmark.h>

#include <boost/asio/io_context.hpp>

#include "gateway/completion_writers.h"
#include "providers/fake_provider.h"
#include "formats/anthropic_messages.h"
#include "formats/openai_answer_reader.h"
#include "formats/openai_wire.h"

namespace {

using namespace mg;

std::string chat_request_json(int messages) {
  nlohmann::json body = {{"model", "mistral-7b-instruct"}, {"temperature", 0.7}, {"max_tokens", 256}, {"stream", true}};
  for (int i = 0; i < messages; ++i) {
    body["messages"].push_back({{"role", i % 2 ? "assistant" : "user"},
                                {"content", "Message number " + std::to_string(i) + " with some ordinary English text in it."}});
  }
  return body.dump();
}

void BM_ParseChatRequest(benchmark::State& state) {
  std::string body = chat_request_json(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    Result<ChatRequest> parsed = parse_chat_request(body, ApiFlavor::chat);
    benchmark::DoNotOptimize(parsed);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ParseChatRequest)->Arg(1)->Arg(16)->Arg(128);

// The same body read into nlohmann's DOM (parse_json_document): what the typed parse saves.
void BM_ReadJsonDocument(benchmark::State& state) {
  std::string body = chat_request_json(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    Result<nlohmann::json> document = parse_json_document(body);
    benchmark::DoNotOptimize(document);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ReadJsonDocument)->Arg(1)->Arg(16)->Arg(128);

// An upstream's stream chunk (Arg 0) and whole answer (Arg 1), as the answer decoder reads them.
void BM_ReadAnswerChunk(benchmark::State& state) {
  const bool whole = state.range(0) == 1;
  const std::string text =
      whole ? R"({"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"mistral-7b-instruct","choices":[{"index":0,"message":{"role":"assistant","content":"Paris is the capital of France."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}})"
            : R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"mistral-7b-instruct","choices":[{"index":0,"delta":{"content":" token"},"finish_reason":null}]})";
  for (auto _ : state) {
    std::optional<AnswerChunk> chunk = read_answer_chunk(text, whole ? "message" : "delta");
    benchmark::DoNotOptimize(chunk);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_ReadAnswerChunk)->Arg(0)->Arg(1);

// The same conversation as an Anthropic Messages body, through its On-Demand parser into the typed
// request: against BM_ParseChatRequest, the whole parse on each reader.
void BM_ParseAnthropicMessages(benchmark::State& state) {
  std::string text = chat_request_json(static_cast<int>(state.range(0)));  // a valid Messages body as it is
  for (auto _ : state) {
    Result<ChatRequest> parsed = parse_anthropic_messages(text, AnthropicBody::message);
    benchmark::DoNotOptimize(parsed);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_ParseAnthropicMessages)->Arg(1)->Arg(16)->Arg(128);

// One streamed text chunk, the most frequent thing the gateway writes: through the JSON DOM
// (Arg 0, the reference) and written directly (Arg 1, what the gateway does), side by side.
void BM_FormatSseTextChunk(benchmark::State& state) {
  boost::asio::io_context io;
  pricing::RouteEntry entry;
  entry.model_id = "echo";
  entry.provider = "fake";
  entry.name = "fake/echo";
  gateway::RouteTarget route{&entry, std::make_shared<FakeProvider>(io.get_executor(), FakeProviderOptions{})};
  gateway::ResponseIdentity identity{"chatcmpl-0123456789abcdef01234567", 1700000000, ApiFlavor::chat, true, &route, {}, 0};
  gateway::ChunkFormatter formatter(identity);
  ChatEvent event = TextDelta{0, " token"};
  bool direct = state.range(0) == 1;
  for (auto _ : state) {
    std::string bytes = direct ? formatter.sse_chunk(event) : "data: " + gateway::to_json_text(*formatter.chunk(event)) + "\n\n";
    benchmark::DoNotOptimize(bytes);
  }
}
BENCHMARK(BM_FormatSseTextChunk)->Arg(0)->Arg(1);

}  // namespace
