// One routing decision over a catalogue of 10,000 routes (2,500 models on 4 providers each, as a large
// OpenRouter-style catalogue has), for each policy. Target: under 5 microseconds a decision.
#include <benchmark/benchmark.h>

#include "gateway/router.h"
#include "formats/openai_wire.h"

namespace {

using namespace mg;

std::shared_ptr<const pricing::CatalogueSnapshot> large_catalogue(int models, int providers_per_model) {
  pricing::CatalogueData data;
  for (int p = 0; p < providers_per_model; ++p) {
    data.providers.push_back(pricing::ProviderRecord{"provider" + std::to_string(p), "http://x", "", "openai", true});
  }
  std::int64_t id = 1;
  for (int m = 0; m < models; ++m) {
    std::string model = "vendor/model-" + std::to_string(m);
    data.models.push_back(pricing::ModelRecord{model, "", 32768, true, true, {model + "-alias"}});
    for (int p = 0; p < providers_per_model; ++p) {
      pricing::RouteRecord route;
      route.id = id++;
      route.model_id = model;
      route.provider = "provider" + std::to_string(p);
      route.upstream_model_id = model;
      route.usd_per_mtok_input = 0.1 + 0.05 * ((m + p) % 7);
      route.usd_per_mtok_output = 0.2 + 0.03 * ((m * 3 + p) % 5);
      route.context_length = 32768;
      route.published_ttft_ms = 200.0 + 10 * p;
      route.published_throughput_tok_s = 100.0 + 7 * ((m + p) % 11);
      data.routes.push_back(route);
    }
  }
  return pricing::CatalogueSnapshot::build(data, {}, [](const auto&) { return std::string(); }, 1);
}

void BM_RouteDecision(benchmark::State& state) {
  static auto snapshot = large_catalogue(2500, 4);
  const char* sort = state.range(0) == 0 ? "price" : state.range(0) == 1 ? "throughput" : "latency";
  Result<ChatRequest> request = parse_chat_request(
      std::string(R"({"model":"vendor/model-1234","max_tokens":256,"provider":{"sort":")") + sort +
          R"("},"messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":"Summarise the routing rules."}]})",
      ApiFlavor::chat);
  pricing::LiveStats stats;
  gateway::RoutingContext context{*snapshot, &stats, {}, nullptr};
  for (auto _ : state) {
    auto plan = gateway::plan_routes(*request, context);
    benchmark::DoNotOptimize(plan);
  }
  state.SetLabel(std::string(sort) + ", " + std::to_string(snapshot->routes().size()) + " routes");
}
BENCHMARK(BM_RouteDecision)->Arg(0)->Arg(1)->Arg(2);

void BM_RouteDecisionBalanced(benchmark::State& state) {
  static auto snapshot = large_catalogue(2500, 4);
  Result<ChatRequest> request = parse_chat_request(R"({"model":"vendor/model-77-alias","messages":[{"role":"user","content":"hi"}]})",
                                                   ApiFlavor::chat);
  std::mt19937_64 random(1);
  gateway::RoutingContext context{*snapshot, nullptr, {}, &random};
  gateway::RoutingOptions options{gateway::RoutingPolicy::balanced};
  for (auto _ : state) {
    auto plan = gateway::plan_routes(*request, context, options);
    benchmark::DoNotOptimize(plan);
  }
}
BENCHMARK(BM_RouteDecisionBalanced);

}  // namespace
