#include "gateway/route_table.h"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "providers/fake_provider.h"

namespace mg::gateway {
namespace {

class RouteTableTest : public ::testing::Test {
 protected:
  RouteTable table_{{std::make_shared<FakeProvider>(io_.get_executor(), FakeProviderOptions{})}};
  boost::asio::io_context io_;
};

ChatRequest asking_for(std::string model, std::vector<std::string> fallbacks = {}) {
  ChatRequest request;
  request.model = std::move(model);
  request.fallback_models = std::move(fallbacks);
  return request;
}

TEST_F(RouteTableTest, ChainFollowsModelThenFallbacksAndSkipsUnknown) {
  auto chain = table_.chain_for(asking_for("error", {"nope", "fake/echo"}));
  ASSERT_TRUE(chain);
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_EQ((*chain)[0].name(), "fake/error");
  EXPECT_EQ((*chain)[1].name(), "fake/echo");
}

TEST_F(RouteTableTest, UnknownModelsAre404NamingThem) {
  auto chain = table_.chain_for(asking_for("gpt-9", {"claude-12"}));
  ASSERT_FALSE(chain);
  EXPECT_EQ(chain.error().http_status, 404);
  EXPECT_EQ(chain.error().code, "model_not_found");
  EXPECT_NE(chain.error().message.find("'gpt-9', 'claude-12'"), std::string::npos) << chain.error().message;
}

TEST_F(RouteTableTest, CostIsUsageTimesPrice) {
  auto chain = table_.chain_for(asking_for("echo"));
  ASSERT_TRUE(chain);
  EXPECT_DOUBLE_EQ((*chain)[0].cost_usd(UsageReport{1'000'000, 500'000, 0}), 1.0 + 1.0);
}

TEST_F(RouteTableTest, ModelsListIsSortedWithPricesPerToken) {
  auto listing = table_.models_json();
  ASSERT_EQ(listing["data"].size(), 4u);
  EXPECT_EQ(listing["data"][0]["id"], "echo");
  EXPECT_EQ(listing["data"][1]["id"], "error");
  EXPECT_EQ(listing["data"][0]["pricing"]["completion"], "2e-06");
  EXPECT_EQ(RouteTable({}).models_json()["data"].size(), 0u);
}

}  // namespace
}  // namespace mg::gateway
