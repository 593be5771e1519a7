// The routing state under change: snapshots swapped while requests route, and catalogue edits made by
// another process reaching a running gateway.
#include "gateway/routing_state.h"

#include <atomic>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "providers/fake_provider.h"
#include "formats/openai_wire.h"
#include "tests/support/test_gateway.h"

namespace mg::gateway {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

ChatRequest chat(const std::string& model) {
  return std::move(parse_chat_request(R"({"model":")" + model + R"(","messages":[{"role":"user","content":"hi"}]})", ApiFlavor::chat)).value();
}

pricing::RouteRecord route_to(std::int64_t id, const std::string& provider, double usd_per_mtok) {
  pricing::RouteRecord route;
  route.id = id;
  route.model_id = "m";
  route.provider = provider;
  route.upstream_model_id = "m";
  route.usd_per_mtok_input = route.usd_per_mtok_output = usd_per_mtok;
  route.context_length = 4096;
  return route;
}

// Thousands of swaps while four threads route: under ASan (and TSan) this must stay silent, and every
// decision must come from one consistent snapshot.
TEST(RoutingStateTest, SnapshotSwapsWhileRoutingAreSafe) {
  pricing::CatalogueData cheap, dear;
  for (auto* data : {&cheap, &dear}) {
    data->providers.push_back({"a", "http://a", "", "openai", true});
    data->providers.push_back({"b", "http://b", "", "openai", true});
    data->models.push_back({"m", "", 4096, false, false, {}});
  }
  cheap.routes = {route_to(1, "a", 0.1), route_to(2, "b", 0.2)};
  dear.routes = {route_to(1, "a", 0.3), route_to(2, "b", 0.2)};
  auto no_check = [](const pricing::ProviderRecord&) { return std::string(); };
  auto first = pricing::CatalogueSnapshot::build(cheap, {}, no_check, 1);
  auto second = pricing::CatalogueSnapshot::build(dear, {}, no_check, 2);
  pricing::SnapshotHolder holder(first);
  std::atomic<bool> done{false};
  std::atomic<std::int64_t> decisions{0}, inconsistent{0};
  ChatRequest request = chat("m");
  std::vector<std::thread> routers;
  for (int t = 0; t < 4; ++t) {
    routers.emplace_back([&] {
      while (!done.load()) {
        auto snapshot = holder.get();
        RoutingContext context{*snapshot, nullptr, {}, nullptr};
        auto plan = plan_routes(request, context);
        bool expected_a = snapshot->version() == 1;
        if (!plan || (plan->chain.front()->provider == "a") != expected_a) inconsistent.fetch_add(1);
        decisions.fetch_add(1);
      }
    });
  }
  // At least 10,000 swaps, and on until the readers have made 10,000 decisions among them (bounded in time).
  auto give_up = std::chrono::steady_clock::now() + 10s;
  for (int i = 0; (i < 10'000 || decisions.load() < 10'000) && std::chrono::steady_clock::now() < give_up; ++i) {
    holder.swap_in(i % 2 ? first : second);
  }
  done = true;
  for (auto& thread : routers) thread.join();
  EXPECT_GE(decisions.load(), 10'000);
  EXPECT_EQ(inconsistent.load(), 0);
}

TEST(RoutingStateTest, ReloadsFromSqliteWhileRoutingAreSafe) {
  test::TempDir dir;
  pricing::Database db = pricing::Database::open(test_database(dir, "reload.db"));
  boost::asio::io_context io;
  RoutingState routing({std::make_shared<FakeProvider>(io.get_executor(), FakeProviderOptions{})}, {});
  routing.reload(db);
  std::atomic<bool> done{false};
  std::atomic<std::int64_t> failures{0};
  std::vector<std::thread> routers;
  for (int t = 0; t < 3; ++t) {
    routers.emplace_back([&] {
      ChatRequest echo = chat("echo");
      while (!done.load()) {
        auto routed = routing.route(echo);
        if (!routed || routed->chain.empty() || routed->chain.front().name() != "fake/echo") failures.fetch_add(1);
        routing.live_stats().record("fake/echo", {true, true, 10.0, 100.0});
      }
    });
  }
  for (int i = 0; i < 300; ++i) routing.reload(db);
  done = true;
  for (auto& thread : routers) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(routing.snapshot()->version(), 300u);
}

TEST(RoutingStateTest, CatalogueEditsFromAnotherProcessReachARunningGateway) {
  test::TempDir dir;
  std::string db_path = test_database(dir, "live.db");
  test::TestGateway server([&](ServerConfig& config) {
    config.db_path = db_path;
    config.catalogue_poll_interval = 20ms;
  });
  auto price_of = [&](const std::string& model) {
    json list = json::parse(server.get("/v1/models")->body);
    for (const json& entry : list["data"]) {
      if (entry["id"] == model) return entry["routes"];
    }
    return json();
  };
  {
    pricing::Database cli = pricing::Database::open(db_path);  // what `modelgate catalogue set-price` does
    ASSERT_TRUE(pricing::set_route_price(cli, "mistral-7b-instruct", "together", 0.01, 0.02));
  }
  json routes;
  for (int i = 0; i < 200; ++i) {
    routes = price_of("mistral-7b-instruct");
    bool updated = false;
    for (const json& route : routes) updated |= route["provider"] == "together" && route["usd_per_mtok_input"] == 0.01;
    if (updated) break;
    std::this_thread::sleep_for(10ms);
  }
  bool seen = false;
  for (const json& route : routes) seen |= route["provider"] == "together" && route["usd_per_mtok_input"] == 0.01;
  EXPECT_TRUE(seen) << routes.dump();
}

}  // namespace
}  // namespace mg::gateway
