#include "local_engine/model/llama_model.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "local_engine/kernels/dequantize.h"
#include "local_engine/kernels/quantized_dot.h"

namespace mg::engine {
namespace {

// out = x / sqrt(mean(x^2) + eps) * weight
void rms_norm(std::span<const float> x, std::span<const float> weight, float eps, std::span<float> out) {
  float sum_squares = 0.0f;
  for (float v : x) sum_squares += v * v;
  float scale = 1.0f / std::sqrt(sum_squares / static_cast<float>(x.size()) + eps);
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = x[i] * scale * weight[i];
}

// The rotations RoPE applies at `position`, as llama.cpp's "normal" mode applies it to llama GGUF files
// (their converters permute Q and K so that this matches the original): pair i of the first n_rot
// dimensions turns by position * base^(-2i / n_rot). Out: [cos, sin] per pair.
void rope_rotations(std::uint32_t position, std::uint32_t n_rot, float base, std::span<float> out) {
  for (std::uint32_t i = 0; i < n_rot; i += 2) {
    double theta = static_cast<double>(position) * std::pow(static_cast<double>(base), -static_cast<double>(i) / n_rot);
    out[i] = static_cast<float>(std::cos(theta));
    out[i + 1] = static_cast<float>(std::sin(theta));
  }
}

// Rotates the pairs (2i, 2i+1) of each head's first n_rot dimensions by `rotations`.
void rope(std::span<float> heads, std::uint32_t head_size, std::uint32_t n_rot, std::span<const float> rotations) {
  for (std::size_t head = 0; head < heads.size() / head_size; ++head) {
    float* v = heads.data() + head * head_size;
    for (std::uint32_t i = 0; i < n_rot; i += 2) {
      const float x0 = v[i];
      const float x1 = v[i + 1];
      v[i] = x0 * rotations[i] - x1 * rotations[i + 1];
      v[i + 1] = x0 * rotations[i + 1] + x1 * rotations[i];
    }
  }
}

void softmax(std::span<float> values) {
  float max = *std::max_element(values.begin(), values.end());
  float sum = 0.0f;
  for (float& v : values) sum += v = std::exp(v - max);
  for (float& v : values) v /= sum;
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }

// The `count` largest router logits, highest first (the lower index on a tie).
std::vector<std::uint32_t> choose_experts(std::span<const float> router_logits, std::uint32_t count) {
  std::vector<std::uint32_t> order(router_logits.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return router_logits[a] > router_logits[b]; });
  order.resize(count);
  return order;
}

}  // namespace

std::shared_ptr<const LlamaModel> LlamaModel::load(const std::filesystem::path& path) {
  return std::make_shared<const LlamaModel>(GgufFile::open(path));
}

LlamaModel::LlamaModel(GgufFile file)
    : file_(std::move(file)), hparams_(read_llama_hparams(file_)), weights_(map_llama_weights(file_, hparams_)) {}

LlamaForward::LlamaForward(std::shared_ptr<const LlamaModel> model, unsigned n_threads)
    : model_(std::move(model)), p_(model_->hparams()), pool_(n_threads) {
  for (auto [rows, width] : {std::pair{&x_, p_.n_embd}, {&normed_, p_.n_embd}, {&q_, p_.n_embd_q()}, {&k_, p_.n_embd_kv()}, {&v_, p_.n_embd_kv()},
                             {&attended_, p_.n_embd_q()}, {&gate_, p_.n_ff}, {&up_, p_.n_ff}, {&ffn_out_, p_.n_embd}, {&router_, p_.n_expert},
                             {&expert_in_, p_.n_embd}, {&expert_out_, p_.n_embd}}) {
    rows->resize(kMaxBatch, width);
  }
  rows_.reserve(kMaxBatch);
  tokens_.reserve(kMaxBatch);
  positions_.resize(kMaxBatch);
  rotations_.resize(kMaxBatch, p_.n_rot);
  expert_positions_.resize(kMaxBatch);
  thread_scores_.resize(pool_.size());
}

// Each token's input quantized once per activation format the products' weights take (a product shares an
// earlier one's when the format is the same), and shown to the observer once per product.
std::array<ActivationColumns, LlamaForward::kMaxProducts> LlamaForward::quantize_inputs(std::initializer_list<Product> products, const Rows& x,
                                                                                      std::span<const std::uint32_t> positions) {
  assert(products.size() <= kMaxProducts);
  const std::size_t n_tokens = positions.size();
  std::array<std::size_t, kMaxProducts> offsets{};  // of each product's input in activations_
  std::array<bool, kMaxProducts> quantizes{};
  std::size_t total = 0;
  for (std::size_t i = 0; i < products.size(); ++i) {
    const WeightMatrix& w = *products.begin()[i].weights;
    std::size_t earlier = 0;
    while (earlier < i && activation_type_for(products.begin()[earlier].weights->type) != activation_type_for(w.type)) ++earlier;
    quantizes[i] = earlier == i;
    offsets[i] = quantizes[i] ? total : offsets[earlier];
    if (quantizes[i]) total += n_tokens * activation_bytes(activation_type_for(w.type), w.n_cols);
  }
  activations_.resize(std::max(activations_.size(), total));
  std::array<ActivationColumns, kMaxProducts> columns;
  for (std::size_t i = 0; i < products.size(); ++i) {
    const WeightMatrix& w = *products.begin()[i].weights;
    const GgmlType activation_type = activation_type_for(w.type);
    const std::size_t column_bytes = activation_bytes(activation_type, w.n_cols);
    std::byte* data = activations_.data() + offsets[i];
    columns[i] = {data, column_bytes, n_tokens};
    for (std::size_t t = 0; t < n_tokens; ++t) {
      if (quantizes[i]) quantize_activations(activation_type, x.row(t).data(), data + t * column_bytes, w.n_cols);
      if (observer_ && activation_type != GgmlType::f32) observer_(w, positions[t], {data + t * column_bytes, column_bytes});
    }
  }
  return columns;
}

// Y[t] = W X[t] for each product, all of the same input X, in one parallel pass (one barrier for Q, K and
// V together): each thread takes its share of each matrix's rows, and each row meets every token while
// it is in cache.
void LlamaForward::multiply(std::initializer_list<Product> products, const Rows& x, std::span<const std::uint32_t> positions) {
  const std::array<ActivationColumns, kMaxProducts> columns = quantize_inputs(products, x, positions);
  pool_.run([&](unsigned thread, unsigned n_threads) {
    std::size_t k = 0;
    for (const Product& product : products) {
      const WeightMatrix& w = *product.weights;
      auto [first, last] = ThreadPool::share(w.n_rows, thread, n_threads);
      if (first < last) {
        dot_rows(WeightRows{w.type, w.row(first), w.row_bytes, last - first, w.n_cols}, columns[k],
                 OutputColumns{product.out->row(0).data() + first, product.out->width()});
      }
      ++k;
    }
  });
}

void LlamaForward::check(std::span<const SequenceStep> steps) const {
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const SequenceStep& step = steps[i];
    for (std::size_t j = 0; j < i; ++j) {
      if (steps[j].sequence == step.sequence) throw std::invalid_argument("a forward pass feeds each sequence at most once");
    }
    const std::uint32_t n_past = step.sequence->n_past();
    if (step.tokens.size() > step.sequence->n_ctx() - n_past) {
      throw std::length_error(std::to_string(step.tokens.size()) + " tokens do not fit: " + std::to_string(n_past) + " of the context's " +
                              std::to_string(step.sequence->n_ctx()) + " positions are used");
    }
    for (std::int32_t token : step.tokens) {
      if (token < 0 || static_cast<std::uint32_t>(token) >= p_.n_vocab) {
        throw std::invalid_argument("token " + std::to_string(token) + " is outside the vocabulary of " + std::to_string(p_.n_vocab));
      }
    }
    std::size_t wanted = step.logits.empty() ? 0 : (step.all_logits ? step.tokens.size() : 1) * p_.n_vocab;
    if (step.logits.size() != wanted) throw std::invalid_argument("a step's logits span has the wrong size");
  }
}

// Room for every step, or for none of them.
void LlamaForward::reserve(std::span<const SequenceStep> steps) {
  std::vector<std::pair<const KvBlockPool*, std::uint32_t>> needed;  // per pool
  for (const SequenceStep& step : steps) {
    const KvBlockPool* pool = &step.sequence->pool();
    auto it = std::find_if(needed.begin(), needed.end(), [&](const auto& entry) { return entry.first == pool; });
    if (it == needed.end()) it = needed.insert(needed.end(), {pool, 0});
    it->second += step.sequence->blocks_needed(static_cast<std::uint32_t>(step.tokens.size()));
  }
  for (auto [pool, blocks] : needed) {
    if (blocks > pool->n_free()) {
      throw KvPoolExhausted("the KV cache needs " + std::to_string(blocks) + " more blocks of " + std::to_string(kKvBlockPositions) +
                            " positions; " + std::to_string(pool->n_free()) + " of " + std::to_string(pool->n_blocks()) + " are free");
    }
  }
  for (const SequenceStep& step : steps) step.sequence->reserve(static_cast<std::uint32_t>(step.tokens.size()));
}

void LlamaForward::evaluate(std::span<const SequenceStep> steps) {
  check(steps);
  reserve(steps);
  auto run_batch = [this] {
    forward_batch(tokens_);
    rows_.clear();
    tokens_.clear();
  };
  for (const SequenceStep& step : steps) {
    const std::uint32_t start = step.sequence->n_past();
    for (std::size_t t = 0; t < step.tokens.size(); ++t) {
      bool wanted = !step.logits.empty() && (step.all_logits || t + 1 == step.tokens.size());
      float* logits = wanted ? step.logits.data() + (step.all_logits ? t * p_.n_vocab : 0) : nullptr;
      rows_.push_back(Row{step.sequence, start + static_cast<std::uint32_t>(t), logits});
      tokens_.push_back(step.tokens[t]);
      if (rows_.size() == kMaxBatch) run_batch();
    }
  }
  if (!rows_.empty()) run_batch();
  for (const SequenceStep& step : steps) step.sequence->advance(static_cast<std::uint32_t>(step.tokens.size()));
}

// The rows_ of one batch, whose tokens are `tokens`.
void LlamaForward::forward_batch(std::span<const std::int32_t> tokens) {
  const LlamaWeights& w = model_->weights();
  const std::size_t n = tokens.size();
  for (std::size_t t = 0; t < n; ++t) {
    dequantize_row(w.token_embd.type, w.token_embd.row(static_cast<std::uint64_t>(tokens[t])), x_.row(t).data(), p_.n_embd);
    positions_[t] = rows_[t].position;
    rope_rotations(positions_[t], p_.n_rot, p_.rope_freq_base, rotations_.row(t));
  }
  for (std::uint32_t l = 0; l < p_.n_layer; ++l) {
    attention_block(w.layers[l], l, n);
    feed_forward_block(w.layers[l], n);
  }
  output_logits(n);
}

// The logits of the rows that want them; the KV cache is all the others leave behind.
void LlamaForward::output_logits(std::size_t n_tokens) {
  const LlamaWeights& w = model_->weights();
  std::vector<std::size_t> wanted;
  for (std::size_t t = 0; t < n_tokens; ++t) {
    if (!rows_[t].logits) continue;
    rms_norm(x_.row(t), w.output_norm, p_.rms_norm_eps, normed_.row(wanted.size()));
    expert_positions_[wanted.size()] = positions_[t];
    wanted.push_back(t);
  }
  if (wanted.empty()) return;
  logits_.resize(wanted.size(), p_.n_vocab);
  multiply({{&w.output, &logits_}}, normed_, std::span(expert_positions_).first(wanted.size()));
  for (std::size_t i = 0; i < wanted.size(); ++i) std::copy_n(logits_.row(i).data(), p_.n_vocab, rows_[wanted[i]].logits);
}

void LlamaForward::attention_block(const LayerWeights& layer, std::uint32_t layer_index, std::size_t n_tokens) {
  for (std::size_t t = 0; t < n_tokens; ++t) rms_norm(x_.row(t), layer.attn_norm, p_.rms_norm_eps, normed_.row(t));
  const std::span<const std::uint32_t> positions(positions_.data(), n_tokens);
  multiply({{&layer.wq, &q_}, {&layer.wk, &k_}, {&layer.wv, &v_}}, normed_, positions);
  for (std::size_t t = 0; t < n_tokens; ++t) {
    rope(q_.row(t), p_.n_embd_head, p_.n_rot, rotations_.row(t));
    rope(k_.row(t), p_.n_embd_head, p_.n_rot, rotations_.row(t));
    KvSequence& sequence = *rows_[t].sequence;
    const std::uint32_t position = positions_[t];
    std::ranges::copy(k_.row(t), sequence.key_row(layer_index, position));
    float* values = sequence.value_block(layer_index, position / kKvBlockPositions);
    for (std::uint32_t i = 0; i < p_.n_embd_kv(); ++i) values[i * kKvBlockPositions + position % kKvBlockPositions] = v_.row(t)[i];
  }
  // Every token of the batch is in its sequence's cache now; causality comes from each token's own position.
  const std::uint32_t n_head_kv = p_.n_head_kv;
  pool_.run([&](unsigned thread, unsigned n_threads) {
    // Dealt round-robin: later tokens see more positions, so contiguous shares would be uneven.
    for (std::size_t item = thread; item < n_tokens * n_head_kv; item += n_threads) {
      const std::size_t t = item / n_head_kv;
      attend(rows_[t], layer_index, static_cast<std::uint32_t>(item % n_head_kv), q_.row(t), attended_.row(t), thread_scores_[thread]);
    }
  });
  multiply({{&layer.wo, &ffn_out_}}, attended_, positions);
  for (std::size_t t = 0; t < n_tokens; ++t) {
    for (std::uint32_t i = 0; i < p_.n_embd; ++i) x_.row(t)[i] += ffn_out_.row(t)[i];
  }
}

// One token's attention, for the query heads that share KV head `kv_head`, over the cached positions of
// its sequence it may see: itself and those before it, within the sliding window when the model has one.
// Both halves are dot products through the kernels: a key row against the group's queries, then, block
// by block, a row of the transposed values (one dimension over the block's positions) against the
// group's softmaxed scores.
void LlamaForward::attend(const Row& row, std::uint32_t layer_index, std::uint32_t kv_head, std::span<const float> query_heads,
                          std::span<float> out_heads, std::vector<float>& scores) {
  KvSequence& sequence = *row.sequence;
  const std::uint32_t position = row.position;
  const std::uint32_t first = p_.sliding_window && position + 1 > *p_.sliding_window ? position + 1 - *p_.sliding_window : 0;
  const std::uint32_t n_seen = position + 1 - first;
  const std::uint32_t head_size = p_.n_embd_head;
  const std::uint32_t group = p_.n_head / p_.n_head_kv;  // query heads per KV head
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_size));
  const KernelTable& kernels = active_kernel_table();
  const std::size_t kv_offset = static_cast<std::size_t>(kv_head) * head_size;
  scores.resize(static_cast<std::size_t>(group) * n_seen);
  for (std::uint32_t h0 = 0; h0 < group; h0 += kMaxDotColumns) {
    const std::size_t n_heads = std::min<std::size_t>(kMaxDotColumns, group - h0);
    const void* queries[kMaxDotColumns];
    for (std::size_t k = 0; k < n_heads; ++k) queries[k] = query_heads.data() + (kv_head * group + h0 + k) * head_size;
    float dots[kMaxDotColumns];
    for (std::uint32_t j = 0; j < n_seen; ++j) {
      kernels.dot_f32(sequence.key_row(layer_index, first + j) + kv_offset, queries, n_heads, dots, head_size);
      for (std::size_t k = 0; k < n_heads; ++k) scores[(h0 + k) * n_seen + j] = dots[k] * scale;
    }
  }
  for (std::uint32_t h = 0; h < group; ++h) softmax(std::span(scores).subspan(static_cast<std::size_t>(h) * n_seen, n_seen));
  float* out_group = out_heads.data() + static_cast<std::size_t>(kv_head) * group * head_size;  // [group, head_size]
  std::fill_n(out_group, static_cast<std::size_t>(group) * head_size, 0.0f);
  for (std::uint32_t block = first / kKvBlockPositions; block <= position / kKvBlockPositions; ++block) {
    const std::uint32_t begin = std::max(first, block * kKvBlockPositions);
    const std::uint32_t end = std::min(position + 1, (block + 1) * kKvBlockPositions);
    const float* values = sequence.value_block(layer_index, block) + (begin - block * kKvBlockPositions);
    for (std::uint32_t h0 = 0; h0 < group; h0 += kMaxDotColumns) {
      const std::size_t n_heads = std::min<std::size_t>(kMaxDotColumns, group - h0);
      const void* weights[kMaxDotColumns];
      for (std::size_t k = 0; k < n_heads; ++k) weights[k] = scores.data() + (h0 + k) * n_seen + (begin - first);
      float sums[kMaxDotColumns];
      for (std::uint32_t d = 0; d < head_size; ++d) {
        kernels.dot_f32(values + (kv_offset + d) * kKvBlockPositions, weights, n_heads, sums, end - begin);
        for (std::size_t k = 0; k < n_heads; ++k) out_group[(h0 + k) * head_size + d] += sums[k];
      }
    }
  }
}

// SwiGLU for the first n_tokens rows: down(silu(gate x) * up x)
void LlamaForward::expert(const ExpertWeights& weights, const Rows& input, std::span<const std::uint32_t> positions, Rows& output) {
  multiply({{&weights.gate, &gate_}, {&weights.up, &up_}}, input, positions);
  for (std::size_t t = 0; t < positions.size(); ++t) {
    for (std::uint32_t i = 0; i < p_.n_ff; ++i) gate_.row(t)[i] = silu(gate_.row(t)[i]) * up_.row(t)[i];
  }
  multiply({{&weights.down, &output}}, gate_, positions);
}

void LlamaForward::feed_forward_block(const LayerWeights& layer, std::size_t n_tokens) {
  for (std::size_t t = 0; t < n_tokens; ++t) rms_norm(x_.row(t), layer.ffn_norm, p_.rms_norm_eps, normed_.row(t));
  if (p_.is_moe()) {
    mixture_of_experts(layer, n_tokens);
  } else {
    expert(layer.ffn, normed_, std::span(positions_.data(), n_tokens), ffn_out_);
  }
  for (std::size_t t = 0; t < n_tokens; ++t) {
    for (std::uint32_t i = 0; i < p_.n_embd; ++i) x_.row(t)[i] += ffn_out_.row(t)[i];
  }
}

// Each token goes to its top n_expert_used experts, weighted by a softmax over their router logits.
// Tokens are grouped per expert, so an expert's weights are read once for all the tokens it serves.
void LlamaForward::mixture_of_experts(const LayerWeights& layer, std::size_t n_tokens) {
  multiply({{&layer.ffn_gate_inp, &router_}}, normed_, std::span(positions_.data(), n_tokens));
  std::vector<std::vector<std::pair<std::size_t, float>>> served(p_.n_expert);  // [n_expert] (token, weight)
  for (std::size_t t = 0; t < n_tokens; ++t) {
    std::vector<std::uint32_t> chosen = choose_experts(router_.row(t), p_.n_expert_used);
    std::vector<float> weights;
    for (std::uint32_t e : chosen) weights.push_back(router_.row(t)[e]);
    softmax(weights);
    for (std::size_t i = 0; i < chosen.size(); ++i) served[chosen[i]].emplace_back(t, weights[i]);
    std::ranges::fill(ffn_out_.row(t), 0.0f);
  }
  for (std::uint32_t e = 0; e < p_.n_expert; ++e) {
    if (served[e].empty()) continue;
    for (std::size_t i = 0; i < served[e].size(); ++i) {
      std::ranges::copy(normed_.row(served[e][i].first), expert_in_.row(i).begin());
      expert_positions_[i] = positions_[served[e][i].first];
    }
    expert(layer.experts[e], expert_in_, std::span(expert_positions_.data(), served[e].size()), expert_out_);
    for (std::size_t i = 0; i < served[e].size(); ++i) {
      auto [token, weight] = served[e][i];
      for (std::uint32_t d = 0; d < p_.n_embd; ++d) ffn_out_.row(token)[d] += weight * expert_out_.row(i)[d];
    }
  }
}

}  // namespace mg::engine

namespace mg::engine {

LlamaSession::LlamaSession(std::shared_ptr<const LlamaModel> model, std::uint32_t n_ctx, unsigned n_threads)
    : forward_(model, n_threads),
      kv_pool_(model->hparams(), KvBlockPool::blocks_for(n_ctx ? n_ctx : model->hparams().n_ctx_train)),
      sequence_(kv_pool_, n_ctx ? n_ctx : model->hparams().n_ctx_train) {}

std::vector<float> LlamaSession::evaluate(std::span<const std::int32_t> tokens, bool all_logits) {
  std::vector<float> logits((all_logits ? tokens.size() : 1) * forward_.model().hparams().n_vocab);
  SequenceStep step{&sequence_, tokens, tokens.empty() ? std::span<float>() : std::span<float>(logits), all_logits};
  forward_.evaluate(std::span(&step, 1));
  return logits;
}

}  // namespace mg::engine
