// Picks the next token from a row of logits as OpenAI's and llama.cpp's parameters ask: logit_bias, then
// the repetition / frequency / presence penalties, then greedy at temperature 0, or top_k, top_p and
// min_p filtering, temperature, and a draw from a seeded generator (same seed, same tokens).
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mg::engine {

struct SamplingParams {
  float temperature = 1.0f;         // 0: always the most likely token
  std::uint32_t top_k = 0;          // keep the k most likely; 0: all
  float top_p = 1.0f;               // keep the smallest set whose probability reaches p
  float min_p = 0.0f;               // drop tokens below min_p times the most likely one's probability
  float repetition_penalty = 1.0f;  // llama.cpp's: a seen token's logit is divided (>0) or multiplied (<0) by it
  float frequency_penalty = 0.0f;   // OpenAI's: minus this times the token's count so far
  float presence_penalty = 0.0f;    // OpenAI's: minus this once the token has appeared
  std::unordered_map<std::int32_t, float> logit_bias;  // added to the logit; -100 bans the token outright
  std::optional<std::uint64_t> seed;                   // none: a random seed
  std::uint32_t top_logprobs = 0;   // how many alternatives to report with each token

  bool is_greedy() const { return temperature <= 0.0f || top_k == 1; }
};

struct SampledToken {
  std::int32_t token = 0;
  float logprob = 0.0f;  // log-probability under the model's own distribution (before any sampling setting)
  std::vector<std::pair<std::int32_t, float>> top_logprobs;  // the most likely tokens, most likely first
};

class Sampler {
 public:
  explicit Sampler(SamplingParams params);

  // `history`: the tokens the penalties look at (those generated so far). std::invalid_argument when the
  // logits leave nothing to choose from (every token banned).
  SampledToken sample(std::span<const float> logits, std::span<const std::int32_t> history);

  const SamplingParams& params() const { return params_; }

 private:
  struct Candidate {
    std::int32_t token;
    float logit;
  };

  std::vector<Candidate> adjusted_candidates(std::span<const float> logits, std::span<const std::int32_t> history) const;
  std::int32_t draw(std::vector<Candidate> candidates);
  void report_logprobs(std::span<const float> logits, SampledToken& out) const;

  SamplingParams params_;
  std::mt19937_64 random_;
};

}  // namespace mg::engine
