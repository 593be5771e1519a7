#include "local_engine/model/llama_model.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "local_engine/kernels/dequantize.h"

namespace mg::engine {
namespace {

// y = W x: one dot product per row of W, each row dequantized into `row` first (F32 rows are used as is).
void matvec(const WeightMatrix& w, std::span<const float> x, std::span<float> y, std::vector<float>& row) {
  for (std::uint64_t r = 0; r < w.n_rows; ++r) {
    const float* weights = reinterpret_cast<const float*>(w.row(r));
    if (w.type != GgmlType::f32) {
      dequantize_row(w.type, w.row(r), row.data(), w.n_cols);
      weights = row.data();
    }
    float sum = 0.0f;
    for (std::uint64_t c = 0; c < w.n_cols; ++c) sum += weights[c] * x[c];
    y[r] = sum;
  }
}

// out = x / sqrt(mean(x^2) + eps) * weight
void rms_norm(std::span<const float> x, std::span<const float> weight, float eps, std::span<float> out) {
  float sum_squares = 0.0f;
  for (float v : x) sum_squares += v * v;
  float scale = 1.0f / std::sqrt(sum_squares / static_cast<float>(x.size()) + eps);
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = x[i] * scale * weight[i];
}

// RoPE as llama.cpp's "normal" mode applies it to llama GGUF files (their converters permute Q and K so
// that this matches the original): within each head, rotate the pairs (2i, 2i+1) of the first n_rot
// dimensions by position * base^(-2i / n_rot).
void rope(std::span<float> heads, std::uint32_t head_size, std::uint32_t n_rot, float base, std::uint32_t position) {
  for (std::size_t head = 0; head < heads.size() / head_size; ++head) {
    float* v = heads.data() + head * head_size;
    for (std::uint32_t i = 0; i < n_rot; i += 2) {
      double theta = static_cast<double>(position) * std::pow(static_cast<double>(base), -static_cast<double>(i) / n_rot);
      float cos_theta = static_cast<float>(std::cos(theta));
      float sin_theta = static_cast<float>(std::sin(theta));
      float x0 = v[i];
      float x1 = v[i + 1];
      v[i] = x0 * cos_theta - x1 * sin_theta;
      v[i + 1] = x0 * sin_theta + x1 * cos_theta;
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

LlamaSession::LlamaSession(std::shared_ptr<const LlamaModel> model, std::uint32_t n_ctx)
    : model_(std::move(model)), p_(model_->hparams()), n_ctx_(n_ctx ? n_ctx : p_.n_ctx_train) {
  std::size_t cache = static_cast<std::size_t>(p_.n_layer) * n_ctx_ * p_.n_embd_kv();
  k_cache_.resize(cache);
  v_cache_.resize(cache);
  x_.resize(p_.n_embd);
  normed_.resize(p_.n_embd);
  q_.resize(p_.n_embd_q());
  attended_.resize(p_.n_embd_q());
  scores_.resize(n_ctx_);
  gate_.resize(p_.n_ff);
  up_.resize(p_.n_ff);
  ffn_out_.resize(p_.n_embd);
  expert_out_.resize(p_.n_embd);
  router_.resize(p_.n_expert);
  row_.resize(std::max({p_.n_embd, p_.n_embd_q(), p_.n_ff}));
}

std::vector<float> LlamaSession::evaluate(std::span<const std::int32_t> tokens, bool all_logits) {
  if (tokens.size() > n_ctx_ - n_past_) {
    throw std::length_error(std::to_string(tokens.size()) + " tokens do not fit: " + std::to_string(n_past_) + " of the context's " +
                            std::to_string(n_ctx_) + " positions are used");
  }
  for (std::int32_t token : tokens) {
    if (token < 0 || static_cast<std::uint32_t>(token) >= p_.n_vocab) {
      throw std::invalid_argument("token " + std::to_string(token) + " is outside the vocabulary of " + std::to_string(p_.n_vocab));
    }
  }
  std::vector<float> logits((all_logits ? tokens.size() : 1) * p_.n_vocab);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    bool wanted = all_logits || i + 1 == tokens.size();
    forward_token(tokens[i], n_past_, wanted ? logits.data() + (all_logits ? i * p_.n_vocab : 0) : nullptr);
    ++n_past_;
  }
  return logits;
}

void LlamaSession::forward_token(std::int32_t token, std::uint32_t position, float* logits) {
  const LlamaWeights& w = model_->weights();
  dequantize_row(w.token_embd.type, w.token_embd.row(static_cast<std::uint64_t>(token)), x_.data(), p_.n_embd);
  for (std::uint32_t l = 0; l < p_.n_layer; ++l) {
    attention_block(w.layers[l], l, position);
    feed_forward_block(w.layers[l]);
  }
  if (!logits) return;  // the KV cache is all a prompt token leaves behind
  rms_norm(x_, w.output_norm, p_.rms_norm_eps, normed_);
  matvec(w.output, normed_, std::span<float>(logits, p_.n_vocab), row_);
}

void LlamaSession::attention_block(const LayerWeights& layer, std::uint32_t layer_index, std::uint32_t position) {
  const std::uint32_t kv_width = p_.n_embd_kv();
  float* layer_k = k_cache_.data() + static_cast<std::size_t>(layer_index) * n_ctx_ * kv_width;  // [n_ctx, n_embd_kv]
  float* layer_v = v_cache_.data() + static_cast<std::size_t>(layer_index) * n_ctx_ * kv_width;
  std::span<float> k(layer_k + static_cast<std::size_t>(position) * kv_width, kv_width);
  std::span<float> v(layer_v + static_cast<std::size_t>(position) * kv_width, kv_width);

  rms_norm(x_, layer.attn_norm, p_.rms_norm_eps, normed_);
  matvec(layer.wq, normed_, q_, row_);
  matvec(layer.wk, normed_, k, row_);
  matvec(layer.wv, normed_, v, row_);
  rope(q_, p_.n_embd_head, p_.n_rot, p_.rope_freq_base, position);
  rope(k, p_.n_embd_head, p_.n_rot, p_.rope_freq_base, position);

  // Causal, and within the sliding window: a position sees itself and the window - 1 before it.
  std::uint32_t first = p_.sliding_window && position + 1 > *p_.sliding_window ? position + 1 - *p_.sliding_window : 0;
  const float scale = 1.0f / std::sqrt(static_cast<float>(p_.n_embd_head));
  const std::uint32_t group = p_.n_head / p_.n_head_kv;  // query heads per KV head
  for (std::uint32_t h = 0; h < p_.n_head; ++h) {
    const float* query = q_.data() + h * p_.n_embd_head;
    std::size_t kv_offset = static_cast<std::size_t>(h / group) * p_.n_embd_head;
    std::span<float> scores(scores_.data(), position + 1 - first);
    for (std::uint32_t j = first; j <= position; ++j) {
      const float* key = layer_k + static_cast<std::size_t>(j) * kv_width + kv_offset;
      float dot = 0.0f;
      for (std::uint32_t d = 0; d < p_.n_embd_head; ++d) dot += query[d] * key[d];
      scores[j - first] = dot * scale;
    }
    softmax(scores);
    float* out = attended_.data() + h * p_.n_embd_head;
    std::fill(out, out + p_.n_embd_head, 0.0f);
    for (std::uint32_t j = first; j <= position; ++j) {
      const float* value = layer_v + static_cast<std::size_t>(j) * kv_width + kv_offset;
      for (std::uint32_t d = 0; d < p_.n_embd_head; ++d) out[d] += scores[j - first] * value[d];
    }
  }
  matvec(layer.wo, attended_, ffn_out_, row_);
  for (std::uint32_t i = 0; i < p_.n_embd; ++i) x_[i] += ffn_out_[i];
}

// SwiGLU: down(silu(gate x) * up x)
void LlamaSession::expert(const ExpertWeights& weights, std::span<const float> input, std::span<float> output) {
  matvec(weights.gate, input, gate_, row_);
  matvec(weights.up, input, up_, row_);
  for (std::uint32_t i = 0; i < p_.n_ff; ++i) gate_[i] = silu(gate_[i]) * up_[i];
  matvec(weights.down, gate_, output, row_);
}

void LlamaSession::feed_forward_block(const LayerWeights& layer) {
  rms_norm(x_, layer.ffn_norm, p_.rms_norm_eps, normed_);
  if (!p_.is_moe()) {
    expert(layer.ffn, normed_, ffn_out_);
  } else {
    matvec(layer.ffn_gate_inp, normed_, router_, row_);
    std::vector<std::uint32_t> chosen = choose_experts(router_, p_.n_expert_used);
    std::vector<float> weights;
    for (std::uint32_t e : chosen) weights.push_back(router_[e]);
    softmax(weights);
    std::fill(ffn_out_.begin(), ffn_out_.end(), 0.0f);
    for (std::size_t i = 0; i < chosen.size(); ++i) {
      expert(layer.experts[chosen[i]], normed_, expert_out_);
      for (std::uint32_t d = 0; d < p_.n_embd; ++d) ffn_out_[d] += weights[i] * expert_out_[d];
    }
  }
  for (std::uint32_t i = 0; i < p_.n_embd; ++i) x_[i] += ffn_out_[i];
}

}  // namespace mg::engine
