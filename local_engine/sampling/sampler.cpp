#include "local_engine/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace mg::engine {
namespace {

constexpr float kBanBias = -100.0f;  // OpenAI: "-100 should result in a ban"

// Probabilities of the candidates' logits (sorted or not), in place of nothing: returned alongside.
std::vector<double> softmax(const std::vector<float>& logits) {
  float max = *std::max_element(logits.begin(), logits.end());
  std::vector<double> out(logits.size());
  double sum = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) sum += out[i] = std::exp(static_cast<double>(logits[i] - max));
  for (double& p : out) p /= sum;
  return out;
}

}  // namespace

Sampler::Sampler(SamplingParams params) : params_(std::move(params)), random_(params_.seed ? *params_.seed : std::random_device{}()) {}

std::vector<Sampler::Candidate> Sampler::adjusted_candidates(std::span<const float> logits, std::span<const std::int32_t> history) const {
  std::unordered_map<std::int32_t, std::uint32_t> counts;
  for (std::int32_t token : history) ++counts[token];
  std::vector<Candidate> candidates;
  candidates.reserve(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) {
    auto token = static_cast<std::int32_t>(i);
    float logit = logits[i];
    if (auto bias = params_.logit_bias.find(token); bias != params_.logit_bias.end()) {
      if (bias->second <= kBanBias) continue;
      logit += bias->second;
    }
    if (auto seen = counts.find(token); seen != counts.end()) {
      logit = logit > 0 ? logit / params_.repetition_penalty : logit * params_.repetition_penalty;
      logit -= params_.frequency_penalty * static_cast<float>(seen->second) + params_.presence_penalty;
    }
    if (!std::isnan(logit)) candidates.push_back({token, logit});
  }
  if (candidates.empty()) throw std::invalid_argument("no token is left to sample: logit_bias bans them all");
  return candidates;
}

// top_k, top_p and min_p over the candidates sorted by logit, then a draw at the temperature.
std::int32_t Sampler::draw(std::vector<Candidate> candidates) {
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.token < b.token);
  });
  if (params_.is_greedy()) return candidates.front().token;
  if (params_.top_k > 0 && candidates.size() > params_.top_k) candidates.resize(params_.top_k);

  std::vector<float> logits;
  for (const Candidate& c : candidates) logits.push_back(c.logit / params_.temperature);
  std::vector<double> probabilities = softmax(logits);
  std::size_t keep = probabilities.size();
  if (params_.top_p < 1.0f) {
    double cumulative = 0;
    for (std::size_t i = 0; i < probabilities.size(); ++i) {
      cumulative += probabilities[i];
      if (cumulative >= params_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  if (params_.min_p > 0.0f) {
    double floor = params_.min_p * probabilities.front();
    std::size_t above = 1;
    while (above < keep && probabilities[above] >= floor) ++above;
    keep = above;
  }
  double total = 0;
  for (std::size_t i = 0; i < keep; ++i) total += probabilities[i];
  double point = std::uniform_real_distribution<double>(0.0, total)(random_);
  for (std::size_t i = 0; i < keep; ++i) {
    point -= probabilities[i];
    if (point < 0) return candidates[i].token;
  }
  return candidates[keep - 1].token;  // rounding left a sliver
}

void Sampler::report_logprobs(std::span<const float> logits, SampledToken& out) const {
  float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float logit : logits) sum += std::exp(static_cast<double>(logit - max));
  float log_normalizer = max + static_cast<float>(std::log(sum));
  out.logprob = logits[static_cast<std::size_t>(out.token)] - log_normalizer;
  if (params_.top_logprobs == 0) return;
  std::vector<std::int32_t> order(logits.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int32_t>(i);
  std::size_t count = std::min<std::size_t>(params_.top_logprobs, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(count), order.end(), [&](std::int32_t a, std::int32_t b) {
    return logits[static_cast<std::size_t>(a)] > logits[static_cast<std::size_t>(b)];
  });
  for (std::size_t i = 0; i < count; ++i) out.top_logprobs.emplace_back(order[i], logits[static_cast<std::size_t>(order[i])] - log_normalizer);
}

SampledToken Sampler::sample(std::span<const float> logits, std::span<const std::int32_t> history) {
  SampledToken out;
  out.token = draw(adjusted_candidates(logits, history));
  report_logprobs(logits, out);
  return out;
}

}  // namespace mg::engine
