#include "local_engine/sampling/sampler.h"

#include <cmath>
#include <map>
#include <random>

#include <gtest/gtest.h>

namespace mg::engine {
namespace {

std::vector<float> random_logits(std::mt19937& random, std::size_t size = 100) {
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> logits(size);
  for (float& logit : logits) logit = normal(random);
  return logits;
}

std::vector<std::int32_t> generate(SamplingParams params, int steps) {
  Sampler sampler(std::move(params));
  std::mt19937 logits_source(3);
  std::vector<std::int32_t> tokens;
  for (int i = 0; i < steps; ++i) tokens.push_back(sampler.sample(random_logits(logits_source), tokens).token);
  return tokens;
}

std::int32_t argmax(const std::vector<float>& logits) {
  return static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

TEST(SamplerTest, TheSameSeedGivesTheSameTokens) {
  SamplingParams params;
  params.temperature = 1.2f;
  params.top_p = 0.95f;
  params.seed = 1234;
  EXPECT_EQ(generate(params, 300), generate(params, 300));
  SamplingParams other = params;
  other.seed = 1235;
  EXPECT_NE(generate(params, 300), generate(other, 300));
}

TEST(SamplerTest, TopKOfOneAndTemperatureZeroAreGreedy) {
  std::mt19937 random(5);
  SamplingParams top_one;
  top_one.temperature = 1.5f;
  top_one.top_k = 1;
  SamplingParams cold;
  cold.temperature = 0.0f;
  Sampler a(top_one), b(cold);
  for (int i = 0; i < 500; ++i) {
    std::vector<float> logits = random_logits(random);
    EXPECT_EQ(a.sample(logits, {}).token, argmax(logits));
    EXPECT_EQ(b.sample(logits, {}).token, argmax(logits));
  }
}

TEST(SamplerTest, ALogitBiasOfMinusOneHundredBansTheToken) {
  std::vector<float> logits = {0.0f, 5.0f, 0.1f, -1.0f};
  SamplingParams params;
  params.temperature = 2.0f;
  params.seed = 9;
  params.logit_bias = {{1, -100.0f}};
  Sampler sampler(params);
  for (int i = 0; i < 2000; ++i) EXPECT_NE(sampler.sample(logits, {}).token, 1);
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  greedy.logit_bias = {{1, -100.0f}, {3, 10.0f}};
  EXPECT_EQ(Sampler(greedy).sample(logits, {}).token, 3);  // a positive bias promotes
  greedy.logit_bias = {{0, -100.0f}, {1, -100.0f}, {2, -100.0f}, {3, -100.0f}};
  EXPECT_THROW(Sampler(greedy).sample(logits, {}), std::invalid_argument);
}

TEST(SamplerTest, DrawsFollowTheSoftmaxAtTheTemperature) {
  std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f};
  SamplingParams params;
  params.temperature = 0.7f;
  params.seed = 77;
  Sampler sampler(params);
  std::map<std::int32_t, int> counts;
  constexpr int kDraws = 40000;
  for (int i = 0; i < kDraws; ++i) ++counts[sampler.sample(logits, {}).token];
  double sum = 0;
  for (float logit : logits) sum += std::exp(logit / 0.7);
  for (std::int32_t t = 0; t < 4; ++t) {
    double expected = std::exp(logits[static_cast<std::size_t>(t)] / 0.7) / sum;
    EXPECT_NEAR(counts[t] / static_cast<double>(kDraws), expected, 0.01) << "token " << t;
  }
}

TEST(SamplerTest, TopPAndMinPKeepOnlyTheLikelyTokens) {
  std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  auto seen = [&](SamplingParams params) {
    params.seed = 11;
    Sampler sampler(params);
    std::map<std::int32_t, int> counts;
    for (int i = 0; i < 5000; ++i) ++counts[sampler.sample(logits, {}).token];
    return counts;
  };
  SamplingParams top_p;
  top_p.top_p = 0.75f;  // 0.5 + 0.3 reaches it: two tokens
  auto counts = seen(top_p);
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_NEAR(counts[0] / 5000.0, 0.5 / 0.8, 0.03);
  SamplingParams min_p;
  min_p.min_p = 0.25f;  // at least 0.125: three tokens
  EXPECT_EQ(seen(min_p).size(), 3u);
  SamplingParams top_k;
  top_k.top_k = 3;
  EXPECT_EQ(seen(top_k).count(3), 0u);
}

TEST(SamplerTest, PenaltiesLowerTokensAlreadyGenerated) {
  std::vector<float> logits = {2.0f, 1.9f, -3.0f};
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  std::vector<std::int32_t> history = {0, 0};
  EXPECT_EQ(Sampler(greedy).sample(logits, history).token, 0);
  SamplingParams frequency = greedy;
  frequency.frequency_penalty = 0.1f;  // 2.0 - 0.2 < 1.9
  EXPECT_EQ(Sampler(frequency).sample(logits, history).token, 1);
  SamplingParams presence = greedy;
  presence.presence_penalty = 0.15f;  // 2.0 - 0.15 < 1.9
  EXPECT_EQ(Sampler(presence).sample(logits, history).token, 1);
  SamplingParams repetition = greedy;
  repetition.repetition_penalty = 1.1f;  // 2.0 / 1.1 < 1.9
  EXPECT_EQ(Sampler(repetition).sample(logits, history).token, 1);
  EXPECT_EQ(Sampler(repetition).sample(logits, std::vector<std::int32_t>{2}).token, 0);  // -3 * 1.1: still last
}

TEST(SamplerTest, ReportsTheModelsOwnLogprobs) {
  std::vector<float> logits = {1.0f, 3.0f, 2.0f};
  SamplingParams params;
  params.temperature = 0.0f;
  params.top_logprobs = 3;
  params.logit_bias = {{1, -100.0f}};  // sampling settings do not change the reported distribution
  SampledToken sampled = Sampler(params).sample(logits, {});
  double normalizer = std::log(std::exp(1.0) + std::exp(3.0) + std::exp(2.0));
  EXPECT_EQ(sampled.token, 2);
  EXPECT_NEAR(sampled.logprob, 2.0 - normalizer, 1e-5);
  ASSERT_EQ(sampled.top_logprobs.size(), 3u);
  EXPECT_EQ(sampled.top_logprobs[0].first, 1);
  EXPECT_NEAR(sampled.top_logprobs[0].second, 3.0 - normalizer, 1e-5);
  EXPECT_EQ(sampled.top_logprobs[2].first, 0);
}

}  // namespace
}  // namespace mg::engine
